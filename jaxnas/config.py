"""One configuration system: frozen dataclasses whose fields declare their help and limits.

A field is declared with :func:`field` (its default, what it does, and its limits). A
config combining others (a predictor search: the search's settings and the predictor's)
holds each as a :func:`part`; its hyperparameters are then the flat union of its own
fields and its parts' (:meth:`Config.leaf_fields`, :meth:`Config.flat`,
:meth:`Config.replace`): one flag each, one results.json entry each.
:meth:`Config.validate` checks every hyperparameter's limits and then the
:meth:`Config.cross_check` (rules over several fields) of each part and of the config
itself. The entry points make one flag per hyperparameter, with the declared help and the
default (experiments/config_flags.py, experiments/parsec.py, experiments/supernet.py).
"""

from __future__ import annotations

import dataclasses
import typing
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


def part(config_cls: type) -> Any:
    """A field holding a whole config of class ``config_cls`` (its default ``config_cls()``),
    as a part of a combined config; annotate the field with ``config_cls``."""
    return dataclasses.field(default_factory=config_cls, metadata={"part": True})


def is_part(config_field: dataclasses.Field) -> bool:
    """Whether ``config_field`` holds a part (:func:`part`) rather than a hyperparameter."""
    return config_field.metadata.get("part", False)


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

    Subclasses declare their fields with :func:`field` and any parts with :func:`part`;
    ``for_benchmark`` may override the defaults per benchmark; ``label`` names the class's
    fields in error messages; a class's own ``cross_check`` holds its rules over several
    fields (of itself and its parts).
    """

    label: ClassVar[str] = "config"

    @classmethod
    def for_benchmark(cls, benchmark_name: str) -> "Config":
        del benchmark_name
        return cls()

    @classmethod
    def leaf_fields(cls) -> tuple[tuple[dataclasses.Field, type], ...]:
        """(field, its type) of every hyperparameter in declaration order, each part's in the
        part's place; TypeError when two share a name (they would share a flag)."""
        types = typing.get_type_hints(cls)
        leaves = []
        for config_field in dataclasses.fields(cls):
            if is_part(config_field):
                leaves += types[config_field.name].leaf_fields()
            else:
                leaves.append((config_field, types[config_field.name]))
        names = [config_field.name for config_field, _ in leaves]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise TypeError(f"{cls.__name__}: hyperparameters {repeated} are declared by more than one part")
        return tuple(leaves)

    def flat(self) -> dict[str, Any]:
        """Every hyperparameter's value by name, the parts' included (the mapping the flags set
        and results.json records)."""
        values = {}
        for config_field in dataclasses.fields(self):
            value = getattr(self, config_field.name)
            values.update(value.flat() if is_part(config_field) else {config_field.name: value})
        return values

    def replace(self, **changes: Any) -> "Config":
        """A copy with the named hyperparameters changed, in whichever part declares them."""
        parts = {}
        for config_field in dataclasses.fields(self):
            if is_part(config_field):
                held = getattr(self, config_field.name)
                own = {name: changes.pop(name) for name in list(changes) if name in held.flat()}
                if own:
                    parts[config_field.name] = held.replace(**own)
        return dataclasses.replace(self, **parts, **changes)

    def __getattr__(self, name: str) -> Any:
        # Reached only for a name that is not an attribute: a part's hyperparameter reads as
        # the combined config's own, as it does in flags and results.json.
        if not name.startswith("__"):
            for config_field in dataclasses.fields(self):
                held = self.__dict__.get(config_field.name)  # absent while unpickling
                values = held.flat() if is_part(config_field) and held is not None else {}
                if name in values:
                    return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def validate(self) -> None:
        """Raises ValueError naming a bad hyperparameter: first every hyperparameter's declared
        limits (the parts' included), then the ``cross_check`` of each part and of every class
        in this config's hierarchy that defines one."""
        for owner, config_field in self._leaves_by_owner():
            error = _limit_error(config_field, getattr(owner, config_field.name))
            if error:
                raise ValueError(f"{_declaring_label(type(owner), config_field.name)} {config_field.name} {error}")
        self._cross_check_all()

    def cross_check(self) -> None:
        """Rules over several fields (raises ValueError); run by :meth:`validate` after the
        fields' own limits hold."""

    def _leaves_by_owner(self) -> list[tuple["Config", dataclasses.Field]]:
        """(config holding it, field) of every hyperparameter, in :meth:`flat`'s order."""
        leaves = []
        for config_field in dataclasses.fields(self):
            if is_part(config_field):
                leaves += getattr(self, config_field.name)._leaves_by_owner()
            else:
                leaves.append((self, config_field))
        return leaves

    def _cross_check_all(self) -> None:
        for config_field in dataclasses.fields(self):
            if is_part(config_field):
                getattr(self, config_field.name)._cross_check_all()
        for cls in reversed(type(self).__mro__):
            if "cross_check" in vars(cls):
                vars(cls)["cross_check"](self)


def _declaring_label(cls: type, name: str) -> str:
    """The ``label`` of the class in ``cls``'s hierarchy that declares field ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            return vars(klass).get("label", klass.__name__)
    return cls.label


__all__ = ["Config", "field", "help_text", "is_part", "part"]
