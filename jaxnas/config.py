"""One configuration system: frozen dataclasses whose fields declare their help and limits.

A field is declared with :func:`field` (its default, what it does, and its limits);
:meth:`Config.validate` checks every field's limits and then each class's
:meth:`Config.cross_check` (rules over several fields). The entry points make one flag per
field, with the declared help and the default (experiments/config_flags.py,
experiments/parsec.py, experiments/supernet.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional, Sequence


def field(default: Any, help: str, *, lower: Optional[float] = None, upper: Optional[float] = None,
          above: Optional[float] = None, below: Optional[float] = None,
          choices: Optional[Sequence[Any]] = None) -> Any:
    """A dataclass field with its help text and limits: ``lower <= value <= upper``,
    ``above < value < below``, ``value in choices`` (each limit optional)."""
    limits = {"lower": lower, "upper": upper, "above": above, "below": below,
              "choices": tuple(choices) if choices is not None else None}
    metadata = {"help": help, **{name: limit for name, limit in limits.items() if limit is not None}}
    return dataclasses.field(default=default, metadata=metadata)


def help_text(config_field: dataclasses.Field) -> str:
    """What ``config_field`` does (its declared help)."""
    return config_field.metadata["help"]


def _limit_error(config_field: dataclasses.Field, value: Any) -> Optional[str]:
    """'must be ...' for a value outside the field's declared limits, else None."""
    meta = config_field.metadata
    if "choices" in meta:
        return None if value in meta["choices"] else f"must be one of {meta['choices']}, got {value!r}"
    lower, upper, above, below = (meta.get(name) for name in ("lower", "upper", "above", "below"))
    ok = ((lower is None or value >= lower) and (upper is None or value <= upper)
          and (above is None or value > above) and (below is None or value < below))
    if ok:
        return None
    low = f"[{lower}" if lower is not None else f"({above}" if above is not None else None
    high = f"{upper}]" if upper is not None else f"{below})" if below is not None else None
    if low and high:
        bound = f"in {low}, {high}"
    elif low:
        bound = f">= {lower}" if lower is not None else f"> {above}"
    else:
        bound = f"<= {upper}" if upper is not None else f"< {below}"
    return f"must be {bound}, got {value}"


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every hyperparameter dataclass (search algorithms, predictors, PARSEC, the
    supernet).

    Subclasses declare their fields with :func:`field`; ``for_benchmark`` may override the
    defaults per benchmark; ``label`` names the class's fields in error messages; a class's
    own ``cross_check`` holds its rules over several fields.
    """

    label: ClassVar[str] = "config"

    @classmethod
    def for_benchmark(cls, benchmark_name: str) -> "Config":
        del benchmark_name
        return cls()

    def validate(self) -> None:
        """Raises ValueError naming a bad hyperparameter: first each field's declared limits,
        then the ``cross_check`` of every class in the hierarchy that defines one (a config
        combining several, e.g. search settings + a predictor's, checks them all)."""
        for config_field in dataclasses.fields(self):
            error = _limit_error(config_field, getattr(self, config_field.name))
            if error:
                raise ValueError(f"{_declaring_label(type(self), config_field.name)} {config_field.name} {error}")
        for cls in reversed(type(self).__mro__):
            if "cross_check" in vars(cls):
                vars(cls)["cross_check"](self)

    def cross_check(self) -> None:
        """Rules over several fields (raises ValueError); run by :meth:`validate` after the
        fields' own limits hold."""


def _declaring_label(cls: type, name: str) -> str:
    """The ``label`` of the class in ``cls``'s hierarchy that declares field ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            return vars(klass).get("label", klass.__name__)
    return cls.label


__all__ = ["Config", "field", "help_text"]
