"""Shared test setup: CPU only, deterministic, and quiet."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import importlib
import sys

import pytest


def _load_entry_point(module_name: str):
    """``module_name`` (an ``experiments.*`` or ``scripts.*`` entry point) imported as if it were
    the only program in the process. absl flags are process-global and entry points share
    flag names (--data_dir, --output_dir, ...), so a test worker that imported another entry
    point first would fail with DuplicateFlagError; each entry point is its own process in
    real use. The flags of previously imported entry points are removed first."""
    from absl import flags

    fl = flags.FLAGS
    fl.unparse_flags()
    for name in list(fl):
        module = fl.find_module_defining_flag(name)
        if module and module.startswith(_ENTRY_POINT_PACKAGES):
            delattr(fl, name)
    for name in [m for m in sys.modules if m.startswith(_ENTRY_POINT_PACKAGES)]:
        del sys.modules[name]
    return importlib.import_module(module_name)


_ENTRY_POINT_PACKAGES = ("experiments.", "scripts.")


def pytest_configure(config):
    """The default tier ("not slow") compiles many small programs and runs each briefly, so
    XLA:CPU's backend optimisation costs more than it saves there; full-size runs keep it.
    Set before any test starts a backend; a level already in XLA_FLAGS is kept.
    Subprocesses inherit it, so results are still compared under one set of flags."""
    if config.getoption("markexpr", "").replace(" ", "") == "notslow":
        flags = os.environ.get("XLA_FLAGS", "")
        if "--xla_backend_optimization_level" not in flags:  # xdist workers configure again
            os.environ["XLA_FLAGS"] = f"--xla_backend_optimization_level=0 {flags}".strip()


@pytest.fixture
def entry_point():
    """A loader: ``entry_point("experiments.parsec")`` is that module with its flags only."""
    from absl import flags

    yield _load_entry_point
    flags.FLAGS.unparse_flags()


@pytest.fixture(autouse=True)
def _absl_logger_level():
    """absl sets its logger's level when flags are parsed (``--verbosity``); an entry point
    run earlier in the same worker would hide INFO records from ``caplog`` in later tests."""
    import logging

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.NOTSET)
    yield
    absl_logger.setLevel(level)


# Synthetic benchmarks (jaxnas.benchmarks.synthetic): made-up values over the real spaces,
# for tests that need *some* benchmark but not a real table, so they run without data files.
@pytest.fixture(scope="session")
def synthetic_nb201():
    """``nb201_synthetic``: all 15,625 NB201 cells."""
    from jaxnas import benchmarks

    return benchmarks.load_benchmark("nb201_synthetic")


@pytest.fixture(scope="session")
def synthetic_nb201_subset():
    """``nb201_synthetic_subset``: half the NB201 cells, so it searches a RestrictedSpace."""
    from jaxnas import benchmarks

    return benchmarks.load_benchmark("nb201_synthetic_subset")


@pytest.fixture(scope="session")
def synthetic_nbgraph():
    """``nbgraph_synthetic``: all 26,206 NAS-Bench-Graph cells."""
    from jaxnas import benchmarks

    return benchmarks.load_benchmark("nbgraph_synthetic")
