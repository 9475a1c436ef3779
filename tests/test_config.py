import dataclasses

import pytest

from jaxnas import predictors, search
from jaxnas.weight_sharing import parsec, supernet
from jaxnas.config import Config, field


@dataclasses.dataclass(frozen=True)
class _Toy(Config):
    label = "toy"

    size: int = field(4, "Members.", lower=1)
    rate: float = field(0.5, "A rate.", above=0.0, upper=1.0)
    mode: str = field("a", "A mode.", choices=("a", "b"))
    part: int = field(2, "At most size.", lower=0)

    def cross_check(self):
        if self.part > self.size:
            raise ValueError(f"toy part ({self.part}) must be <= size ({self.size})")


@dataclasses.dataclass(frozen=True)
class _ToyChild(_Toy):
    label = "child"

    extra: int = field(1, "More.", lower=1)

    def cross_check(self):
        if self.extra > self.size:
            raise ValueError("child extra exceeds size")


def test_validate_checks_declared_limits_then_every_cross_check():
    _ToyChild().validate()
    cases = [(dict(size=0), "toy size must be >= 1, got 0"), (dict(rate=0.0), r"toy rate must be in \(0.0, 1.0\]"),
             (dict(mode="c"), "toy mode must be one of"), (dict(part=5), r"toy part \(5\) must be <= size"),
             (dict(extra=0), "child extra must be >= 1"), (dict(extra=9), "child extra exceeds size")]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            _ToyChild(**changes).validate()


def test_every_config_field_declares_its_help():
    classes = [search.config_class(n) for n in search.ALGORITHM_NAMES]
    classes += [predictors.config_class(n) for n in predictors.PREDICTOR_NAMES]
    for cls in classes + [parsec.Config, supernet.SupernetConfig]:
        assert issubclass(cls, Config)
        for config_field in dataclasses.fields(cls):
            assert config_field.metadata.get("help"), (cls.__name__, config_field.name)
