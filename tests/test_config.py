import dataclasses

import pytest

from jaxnas import predictors, search
from jaxnas.config import Config, field, is_part, part
from jaxnas.predictors.acenas import AceNASConfig
from jaxnas.predictors.assessor import AssessorConfig
from jaxnas.predictors.gcn import GCNConfig
from jaxnas.search import predictor_search
from jaxnas.weight_sharing import parsec, supernet


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


def _registered_config_classes():
    classes = [search.config_class(n) for n in search.ALGORITHM_NAMES]
    classes += [predictors.config_class(n) for n in predictors.PREDICTOR_NAMES]
    return classes + [parsec.Config, supernet.SupernetConfig]


def test_every_config_field_declares_its_help():
    for cls in _registered_config_classes():
        assert issubclass(cls, Config)
        for config_field, _ in cls.leaf_fields():
            assert config_field.metadata.get("help"), (cls.__name__, config_field.name)


def test_no_config_inherits_from_two_configs():
    for cls in _registered_config_classes():
        for klass in cls.__mro__:
            assert sum(issubclass(base, Config) for base in klass.__bases__) <= 1, klass


@dataclasses.dataclass(frozen=True)
class _Other(Config):
    label = "other"

    width: int = field(3, "Width.", lower=1)


@dataclasses.dataclass(frozen=True)
class _Composed(Config):
    label = "composed"

    toy: _Toy = part(_Toy)
    other: _Other = part(_Other)
    limit: int = field(10, "At least toy size + other width.", lower=0)

    def cross_check(self):
        if self.toy.size + self.other.width > self.limit:
            raise ValueError("composed limit below toy size + other width")


def test_a_composed_config_is_one_flat_set_of_hyperparameters():
    assert [f.name for f, _ in _Composed.leaf_fields()] == ["size", "rate", "mode", "part", "width", "limit"]
    assert [t for _, t in _Composed.leaf_fields()] == [int, float, str, int, int, int]
    config = _Composed().replace(size=5, width=4, limit=9)
    assert config == _Composed(_Toy(size=5), _Other(width=4), 9)
    assert config.flat() == {"size": 5, "rate": 0.5, "mode": "a", "part": 2, "width": 4, "limit": 9}
    assert (config.size, config.width) == (5, 4)  # a part's hyperparameter reads as the config's
    with pytest.raises(AttributeError):
        config.depth
    with pytest.raises(TypeError):
        config.replace(depth=1)


def test_validate_checks_every_part_then_the_composed_cross_check():
    _Composed().validate()
    cases = [(dict(size=0), "toy size must be >= 1, got 0"), (dict(width=0), "other width must be >= 1"),
             (dict(limit=-1), "composed limit must be >= 0"), (dict(part=5), r"toy part \(5\) must be <= size"),
             (dict(size=8), "composed limit below toy size"), (dict(size=0, width=0), "toy size")]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            _Composed().replace(**changes).validate()


def test_parts_may_not_share_a_hyperparameter():
    @dataclasses.dataclass(frozen=True)
    class Clash(Config):
        first: _Toy = part(_Toy)
        second: _ToyChild = part(_ToyChild)

    with pytest.raises(TypeError, match="size"):
        Clash.leaf_fields()


@pytest.mark.parametrize("name,predictor_cls,own", [("gcn", GCNConfig, []), ("assessor", AssessorConfig, []),
                                                    ("acenas", AceNASConfig, ["first_round"])])
def test_predictor_searches_compose_the_predictor_and_the_search_settings(name, predictor_cls, own):
    cls = search.config_class(name)
    assert [f.name for f in dataclasses.fields(cls) if is_part(f)] == ["predictor", "search"]
    names = [f.name for f in dataclasses.fields(predictor_cls)]
    names += [f.name for f in dataclasses.fields(predictor_search.SearchSettings)] + own
    assert [f.name for f, _ in cls.leaf_fields()] == names  # also the order results.json records
    for preset in ("default", "paper"):
        config = getattr(cls, "for_benchmark" if preset == "default" else "paper")("nb101_subset")
        assert type(config.predictor) is predictor_cls and list(config.flat()) == names
    # Each part is validated: a bad predictor field, a bad search field, a bad pair of search fields.
    config = cls.for_benchmark("nb201_cifar10")
    for changes, message in [(dict(learning_rate=0.0), f"{predictor_cls.label} learning_rate must be > 0"),
                             (dict(random_fraction=2.0), "search random_fraction must be in"),
                             (dict(initial_queries=15), "initial_queries must be a multiple"),
                             (dict(fit_min_slots=80), "fit_min_slots \\(80\\) needs fit_slots='doubling'")]:
        with pytest.raises(ValueError, match=message):
            config.replace(**changes).validate()


def test_search_flags_are_the_flat_hyperparameters_with_their_help_and_defaults(entry_point):
    module = entry_point("experiments.search")
    flag_values = module.FLAGS
    gcn = sorted(name for name in flag_values if name.startswith("gcn_"))
    assert gcn == ["gcn_" + n for n in ["batch_size", "candidate_samples", "directions", "dropout", "epochs",
                                         "fc_hidden", "fit_min_slots", "fit_slots", "hidden", "initial_queries",
                                         "label_capacity", "learning_rate", "max_enumerated", "num_layers", "predict_chunk",
                                         "queries_per_round", "random_fraction", "self_loops", "targets",
                                         "warm_start_epochs", "weight_decay"]]
    expected = {
        "gcn_hidden": "Units of each graph-convolution layer (default 144).",
        "gcn_queries_per_round": "Architectures queried per round (per predictor fit) (default 10; 20 on nb101*).",
        "assessor_queries_per_round": "Architectures queried per round (per predictor fit) (default 10; 20 on "
                                      "nb101*).",
        "acenas_random_fraction": "Fraction of a round's queries that are random unqueried candidates instead of "
                                  "the predictor's best (default 0.5).",
        "acenas_label_capacity": "Slots of the label pool the predictor is fit on; when full, a new label "
                                 "replaces the lowest (set it >= the budget to use every label) (default 200).",
        "acenas_first_round": "First round: 'random' (the reference) or 'pretrained' (the weak-label ranker's top "
                              "half plus a random half) (default 'random').",
    }
    for name, help_text in expected.items():
        assert flag_values[name].help == help_text and flag_values[name].default is None, name
    for name in ("gcn", "assessor", "acenas"):
        leaves = {f"{name}_{f.name}" for f, _ in search.config_class(name).leaf_fields()}
        assert leaves == {flag for flag in flag_values if flag.startswith(f"{name}_")}
