"""Injected faults: each one must give a clear error or leave the previous files intact.

Data files, the jittable space API, checkpoints and the search runner, in-process on
small synthetic inputs; the entry points' handling is in test_experiments_search.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, checkpoint, data, search
from jaxnas.benchmarks import ledger as ledger_lib
from jaxnas.benchmarks import nb101 as nb101_bench
from jaxnas.benchmarks import nb201 as nb201_bench
from jaxnas.benchmarks import nbgraph as nbgraph_bench
from jaxnas.search import runner
from jaxnas.spaces import base, nb101, nb201

# ================================================================== data files


def _nb201_copy(tmp_path, **changes):
    """tmp_path/nb201.npz: the real table with ``changes`` (column -> new array)."""
    with np.load(data.resolve("nb201.npz")) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    np.savez(tmp_path / "nb201.npz", **arrays)
    return arrays


def _column(name="cifar10_valid_12ep"):
    with np.load(data.resolve("nb201.npz")) as archive:
        return archive[name]


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda c: c / 100, r"should be in percent but every value is <= 1.*divided by 100"),
        (lambda c: c * 100, r"has 15625 values outside \[0, 100\] \(percent\)"),
        (lambda c: np.where(np.arange(c.size) % 7 == 0, np.nan, c), r"has 2233 NaN values of 15625"),
        (lambda c: c.astype(str), r"holds <U\d+ values, not numbers"),
    ],
    ids=["divided_by_100", "times_100", "every_seventh_nan", "strings"],
)
def test_bad_nb201_columns_are_refused(tmp_path, change, message):
    _nb201_copy(tmp_path, cifar10_valid_12ep=change(_column()))
    with pytest.raises(data.DataFileError, match=rf"nb201.npz.*'cifar10_valid_12ep' {message}"):
        nb201_bench.load_12ep("cifar10", data_dir=str(tmp_path))


def test_nb201_ops_out_of_range_are_refused(tmp_path):
    with np.load(data.resolve("nb201.npz")) as archive:
        ops = archive["ops"].copy()
    ops[3, 2] = 7
    _nb201_copy(tmp_path, ops=ops)
    with pytest.raises(data.DataFileError, match=r"'ops' has 1 values outside \[0, 4\]"):
        nb201_bench.load_12ep("cifar10", data_dir=str(tmp_path))


def test_byte_flip_in_a_compressed_member(tmp_path):
    rng = np.random.default_rng(0)
    np.savez_compressed(tmp_path / "nb201.npz", ops=rng.integers(0, 5, (15625, 6), dtype=np.uint8),
                        index=np.arange(15625, dtype=np.int32))
    raw = bytearray((tmp_path / "nb201.npz").read_bytes())
    raw[len(raw) // 4] ^= 0x5A  # inside the compressed 'ops' member
    (tmp_path / "nb201.npz").write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match=r"nb201.npz is corrupt or not an .npz archive \((error|BadZipFile)"):
        nb201.official_order(str(tmp_path))


def test_random_bytes_and_pickles_are_refused_without_unsafe_advice(tmp_path):
    (tmp_path / "nb201.npz").write_bytes(b"\x80\x04" + np.random.default_rng(1).bytes(4000))
    with pytest.raises(data.DataFileError, match="does not start with a zip header") as err:
        nb201.official_order(str(tmp_path))
    assert "allow_pickle" not in str(err.value)
    np.savez(tmp_path / "nb201.npz", ops=np.array([object()] * 3, dtype=object), index=np.arange(3))
    with pytest.raises(data.DataFileError, match="holds pickled Python objects, which are never loaded") as err:
        nb201.official_order(str(tmp_path))
    assert "allow_pickle" not in str(err.value)


def test_sha256sums_are_verified_once(tmp_path):
    shutil.copy(data.resolve("nb201.npz"), tmp_path / "nb201.npz")
    digest = hashlib.sha256((tmp_path / "nb201.npz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  nb201.npz\n{digest}  other.npz\n")
    before = data._sha256.cache_info()
    with pytest.raises(data.DataFileError, match=r"nb201.npz does not match its checksum in .*SHA256SUMS"):
        data.resolve("nb201.npz", tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  nb201.npz\n")
    for _ in range(3):
        data.resolve("nb201.npz", tmp_path)
    after = data._sha256.cache_info()
    assert after.misses - before.misses == 1 and after.hits - before.hits == 3  # hashed once
    (tmp_path / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(data.DataFileError, match="SHA256SUMS, line 1: .* is not '<sha256 hex digest>  <file name>'"):
        data.resolve("nb201.npz", tmp_path)


def test_shipped_files_match_their_sha256sums():
    sums = data.data_dir() / data.CHECKSUM_FILE
    if not sums.is_file():
        pytest.skip("no SHA256SUMS beside the data")
    for line in sums.read_text().splitlines():
        data.resolve(line.split()[1])  # raises on a mismatch


def test_nbgraph_table_in_percent_is_refused(tmp_path):
    folder = tmp_path / "nbgraph"
    folder.mkdir()
    space = benchmarks.load_benchmark("nbgraph_proteins").space
    entry = {"valid_perf": 85.2, "perf": 0.8, "latency": 0.1, "para": 1.0}
    (folder / "proteins.bench").write_bytes(pickle.dumps({int(h): entry for h in space.hashes}))
    with pytest.raises(data.DataFileError, match=r"'valid_perf' has 2021 values outside \[0, 1\] \(fraction\)"):
        nbgraph_bench.load("proteins", data_dir=str(tmp_path))


def test_nb101_subset_in_percent_is_refused(tmp_path):
    with np.load(data.resolve("nb101_subset.npz")) as archive:
        subset = {key: archive[key] for key in archive.files}
    subset["val_acc_108ep"] = subset["val_acc_108ep"] * 100
    np.savez(tmp_path / "nb101_subset.npz", **subset)
    os.symlink(data.resolve("nb101_graphs.npz"), tmp_path / "nb101_graphs.npz")
    with pytest.raises(data.DataFileError, match=r"'val_acc_108ep' has 30001 values outside \[0, 1\] \(fraction\)"):
        nb101_bench.load_subset(data_dir=str(tmp_path))


# ============================================================ jittable space API


def test_nb201_index_refuses_float_ops_at_trace_time():
    space = nb201.NB201Space()
    with pytest.raises(base.InvalidArchitectureError, match="NB201 ops must be integers, got dtype float32"):
        jax.jit(space.index)(nb201.NB201Cell(ops=jnp.array([0.0, 1.5, 2.0, 3.0, 4.0, 1.0])))
    with pytest.raises(base.InvalidArchitectureError, match=r"NB201 ops has shape \(2, 6\), expected \(6,\)"):
        space.index(nb201.NB201Cell(ops=jnp.zeros((2, 6), jnp.int32)))
    assert int(jax.jit(space.index)(space.from_index(1234))) == 1234  # correct input unchanged


def test_out_of_range_indices_give_invalid_architectures(synthetic_nb201):
    bench = synthetic_nb201
    space = bench.space
    cells = space.from_index_batch(jnp.array([15625, -1, 2 * 15625 + 3, 0, 15624]))
    indices = space.index_batch(cells)
    np.testing.assert_array_equal(indices, [-1, -1, -1, 0, 15624])
    assert not np.asarray(jax.vmap(space.is_valid)(cells))[:3].any()
    values, ledger = ledger_lib.query(ledger_lib.init(space.num_architectures, 5), jnp.asarray(bench.signal), indices)
    assert np.isnan(values[:3]).all() and not np.isnan(values[3:]).any()
    assert int(ledger.count) == 2  # invalid ones cost nothing and are never real cells


@pytest.mark.parametrize("adjacency,ops,message", [
    (np.zeros((8, 8), np.int32), np.zeros(7, np.int32), r"NB101 adjacency has shape \(8, 8\), expected \(7, 7\)"),
    (np.zeros((7, 6), np.int32), np.zeros(7, np.int32), r"NB101 adjacency has shape \(7, 6\), expected \(7, 7\)"),
    (np.zeros((7, 7), np.int32), np.zeros(6, np.int32), r"NB101 ops has shape \(6,\), expected \(7,\)"),
    (np.zeros((7, 7), np.float32), np.zeros(7, np.int32), "NB101 adjacency must be integers"),
])
def test_nb101_malformed_arrays_are_named(adjacency, ops, message):
    space = nb101.NB101Space()
    cell = nb101.NB101Cell(adjacency=jnp.asarray(adjacency), ops=jnp.asarray(ops))
    with pytest.raises(base.InvalidArchitectureError, match=message):
        jax.jit(space.is_valid)(cell)
    with pytest.raises(base.InvalidArchitectureError, match=message):
        space.index(cell)


# ===================================================================== checkpoints

TEMPLATE = {"w": jnp.arange(64, dtype=jnp.float32), "key": jax.random.key(3), "n": jnp.zeros((), jnp.int32)}


def _state(step):
    return {"w": TEMPLATE["w"] + step, "key": jax.random.fold_in(TEMPLATE["key"], step), "n": jnp.int32(step)}


def _write_steps(directory, run, steps=(10, 20)):
    ckpt = checkpoint.Checkpointer(directory, run, resume=False)
    for step in steps:
        ckpt.save(step, _state(step), info={"wall_seconds": step / 10})
    ckpt.close()


def _garble(step_dir):
    for path in (step_dir / "state").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            raw = bytearray(path.read_bytes())
            raw[::7] = bytes(b ^ 0xFF for b in raw[::7])
            path.write_bytes(bytes(raw))


def test_used_checkpoint_directory_is_refused_unless_overwrite(tmp_path):
    _write_steps(tmp_path / "ck", {"run": "A"})
    with pytest.raises(checkpoint.CheckpointExistsError, match=r"already holds checkpoints \(10, 20\).*--overwrite"):
        checkpoint.Checkpointer(tmp_path / "ck", {"run": "B"}, resume=False)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["10", "20"]  # nothing deleted
    (tmp_path / "ck" / "notes.txt").write_text("mine")
    ckpt = checkpoint.Checkpointer(tmp_path / "ck", {"run": "B"}, resume=False, overwrite=True)
    assert ckpt.latest_step() is None
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["notes.txt"]  # only checkpoints deleted
    # Run B crashes before its first save: neither run can resume, so B's identity can
    # never be paired with A's state.
    for run in ({"run": "A"}, {"run": "B"}):
        with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
            checkpoint.Checkpointer(tmp_path / "ck", run, resume=True).restore(TEMPLATE)
    ckpt.close()


def test_each_step_carries_its_run_identity(tmp_path):
    _write_steps(tmp_path / "ck", {"seed": 0})
    with pytest.raises(checkpoint.CheckpointMismatchError, match=r"different run.*'seed': \(0, 1\)"):
        checkpoint.Checkpointer(tmp_path / "ck", {"seed": 1}, resume=True).restore(TEMPLATE)
    # An unfinished save (orbax's temporary directory, left by a crash) is never used.
    shutil.copytree(tmp_path / "ck" / "20", tmp_path / "ck" / "30.orbax-checkpoint-tmp-123")
    restored = checkpoint.Checkpointer(tmp_path / "ck", {"seed": 0}, resume=True).restore_with_info(TEMPLATE)
    assert restored.step == 20 and restored.info == {"wall_seconds": 2.0}
    np.testing.assert_array_equal(restored.state["w"], _state(20)["w"])
    assert jax.random.key_data(restored.state["key"]).tolist() == jax.random.key_data(_state(20)["key"]).tolist()
    assert not (tmp_path / "ck" / "run.json").exists()  # no separate description to get out of step


@pytest.mark.parametrize("fault", ["garbled_state", "truncated_identity", "missing_state", "invalid_state"])
def test_garbled_newest_step_falls_back_to_the_previous(tmp_path, fault, caplog):
    _write_steps(tmp_path / "ck", {"run": 1})
    newest = tmp_path / "ck" / "20"
    validate = None
    if fault == "garbled_state":
        _garble(newest)
    elif fault == "truncated_identity":
        item = newest / "run" / "metadata"
        item.write_text(item.read_text()[:12])
    elif fault == "missing_state":
        shutil.rmtree(newest / "state")
    else:
        validate = lambda step, state: "step counter ahead" if int(state["n"]) > 10 else None  # noqa: E731
    ckpt = checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True)
    with caplog.at_level(logging.WARNING):
        step, state = ckpt.restore(TEMPLATE, validate)
    assert step == 10 and int(state["n"]) == 10
    assert "checkpoint step 20" in caplog.text and "resumed from step 10 instead" in caplog.text
    assert (tmp_path / "ck" / "20.unreadable").is_dir()  # set aside, not deleted
    ckpt.save(20, _state(20))  # the step number is free again
    assert ckpt.restore(TEMPLATE)[0] == 20
    ckpt.close()


def test_no_readable_step_is_a_clear_error(tmp_path):
    _write_steps(tmp_path / "ck", {"run": 1})
    for step in ("10", "20"):
        _garble(tmp_path / "ck" / step)
    with pytest.raises(checkpoint.CheckpointUnreadableError,
                       match=r"no checkpoint in .*ck can be restored \(step 20: state unreadable .*step 10: "):
        checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True).restore(TEMPLATE)


def test_orbax_info_logs_are_off(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        _write_steps(tmp_path / "ck", {"run": 1})
    assert not [r for r in caplog.records if "/orbax/" in r.pathname and r.levelno < logging.WARNING]


# ====================================================================== the runner


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    return synthetic_nb201


@pytest.fixture(scope="module")
def random_search(bench):
    # One algorithm object for every run below: the step program compiles once.
    return search.make_algorithm("random", bench.space, search.config_class("random")())


def test_impossible_settings_are_refused(bench, random_search):
    proteins = benchmarks.load_benchmark("nbgraph_proteins")
    algorithm = search.make_algorithm("random", proteins.space, search.config_class("random")())
    with pytest.raises(runner.SearchSettingsError, match="budget 2500 exceeds the 2021 architectures nbgraph_proteins"):
        runner.run_search(algorithm, proteins, budget=2500, num_seeds=2)
    for kwargs, message in [({"max_steps": 0}, "max_steps must be >= 1, got 0"),
                            ({"max_steps": -1}, "max_steps must be >= 1, got -1"),
                            ({"checkpoint_every_steps": 0}, "checkpoint_every_steps must be >= 1"),
                            ({"resume": True}, "resume needs a checkpoint directory")]:
        with pytest.raises(runner.SearchSettingsError, match=message):
            runner.run_search(random_search, bench, budget=10, num_seeds=2, **kwargs)


def test_seeds_short_of_budget_are_reported(bench, random_search, caplog):
    with caplog.at_level(logging.INFO):
        result = runner.run_search(random_search, bench, budget=20, num_seeds=2, max_steps=1, algorithm_name="random")
    np.testing.assert_array_equal(result.queries, 1)
    out = result.to_json()
    assert out["budget_reached"] is False and result.budget_reached is False
    assert out["short_of_budget"] == {"seeds": [0, 1], "queries": [1, 1]}
    assert "2 of 2 seeds stopped at max_steps=1 before spending the budget of 20 queries" in caplog.text
    # The first progress line comes after the first ask/tell round, with compilation logged.
    text = caplog.text
    assert "random: search step compiled in" in text and "random: first ask/tell round took" in text
    assert text.index("first ask/tell round") < text.index("step 1, queries 1.0/20")


def test_checkpoints_come_every_n_steps_and_resume_counts_all_wall_time(bench, random_search, tmp_path, monkeypatch):
    plain = runner.run_search(random_search, bench, budget=30, num_seeds=2)
    saved = []
    original = checkpoint.Checkpointer.save

    def recording_save(self, step, state, info=None):
        saved.append((step, info["wall_seconds"]))
        original(self, step, state, info)

    monkeypatch.setattr(checkpoint.Checkpointer, "save", recording_save)
    ckpt = tmp_path / "ck"
    full = runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt),
                             checkpoint_every_steps=7)
    steps = [s for s, _ in saved]
    assert steps[:-1] == list(range(7, 7 * len(steps), 7))  # every 7 steps, then at the end
    assert steps[-1] >= int(full.steps.max()) and 0 < steps[-1] - steps[-2] <= 7
    wall_at_previous = dict(saved)[steps[-2]]
    np.testing.assert_array_equal(full.history, plain.history)  # chunking changes nothing
    assert full.budget_reached and full.to_json()["budget_reached"] is True

    # The newest checkpoint is garbled: resume from the one before, same result, and
    # wall_seconds includes the time recorded up to that checkpoint.
    _garble(ckpt / str(steps[-1]))
    with pytest.raises(checkpoint.CheckpointExistsError):
        runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt))
    resumed = runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt),
                                checkpoint_every_steps=7, resume=True)
    np.testing.assert_array_equal(resumed.history, plain.history)
    np.testing.assert_array_equal(resumed.curve, plain.curve)
    assert resumed.wall_seconds > wall_at_previous
    assert (ckpt / f"{steps[-1]}.unreadable").is_dir()
    results = json.loads(json.dumps(resumed.to_json()))
    assert results["wall_seconds"] == resumed.wall_seconds
