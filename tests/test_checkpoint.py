"""Checkpoints (jaxnas.checkpoint): a used folder, a garbled or truncated step and a run's
identity are handled without losing or mixing results.
"""

from __future__ import annotations

import json
import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import checkpoint, provenance
from jaxnas.workflows import report

TEMPLATE = {"w": jnp.arange(64, dtype=jnp.float32), "key": jax.random.key(3), "n": jnp.zeros((), jnp.int32)}


def _state(step):
    return {"w": TEMPLATE["w"] + step, "key": jax.random.fold_in(TEMPLATE["key"], step), "n": jnp.int32(step)}


def _write_steps(directory, run, steps=(10, 20)):
    ckpt = checkpoint.Checkpointer(directory, run, resume=False)
    for step in steps:
        ckpt.save(step, _state(step), info={"wall_seconds": step / 10})
    ckpt.close()


def garble_step(step_dir):
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
        garble_step(newest)
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
        garble_step(tmp_path / "ck" / step)
    with pytest.raises(checkpoint.CheckpointUnreadableError,
                       match=r"no checkpoint in .*ck can be restored \(step 20: state unreadable .*step 10: "):
        checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True).restore(TEMPLATE)


def test_orbax_info_logs_are_off(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        _write_steps(tmp_path / "ck", {"run": 1})
    assert not [r for r in caplog.records if "/orbax/" in r.pathname and r.levelno < logging.WARNING]


def test_a_run_resumed_on_other_code_records_each_part(tmp_path, monkeypatch):
    code = {"commit": "a" * 40, "dirty": False}
    monkeypatch.setattr(provenance, "git_state", lambda root=None: dict(code))
    _write_steps(tmp_path / "ck", {"run": 1})  # steps 10, 20 on code a
    code.update(commit="b" * 40, dirty=True)
    ckpt = checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True)
    restored = ckpt.restore_with_info(TEMPLATE)
    assert restored.info == {"wall_seconds": 2.0}  # the parts travel apart from the caller's info
    assert ckpt.parts == [{"from_step": 0, "git": {"commit": "a" * 40, "dirty": False}},
                          {"from_step": 20, "git": {"commit": "b" * 40, "dirty": True}}]
    ckpt.save(30, _state(30))
    ckpt.close()
    code.update(commit="c" * 40, dirty=False)
    again = checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True)
    again.restore(TEMPLATE)
    assert [(p["from_step"], p["git"]["commit"][0]) for p in again.parts] == [(0, "a"), (20, "b"), (30, "c")]
    again.close()
    git = provenance.git_of_parts(again.parts[-1]["git"], again.parts)
    assert git["commit"] == "c" * 40 and git["dirty"] is True  # one part ran on uncommitted changes
    assert report.commit_of(git) == ("aaaaaaaaaaaa from step 0, bbbbbbbbbbbb from step 20, "
                                      "cccccccccccc from step 30 (uncommitted changes)")
    # One part, or every part on the same commit: the commit alone.
    assert provenance.git_of_parts(code, again.parts[:1]) is code
    same = [{"from_step": s, "git": {"commit": "c" * 40, "dirty": False}} for s in (0, 20)]
    assert report.commit_of(provenance.git_of_parts(same[-1]["git"], same)) == "c" * 12


def test_steps_saved_without_parts_resume_as_an_unknown_first_part(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "git_state", lambda root=None: {"commit": "d" * 40, "dirty": False})
    _write_steps(tmp_path / "ck", {"run": 1})
    for info in (tmp_path / "ck").glob("*/run/*"):  # as written before parts were recorded
        if info.is_file() and '"parts"' in info.read_text():
            item = json.loads(info.read_text())
            item["info"].pop("parts")
            info.write_text(json.dumps(item))
    ckpt = checkpoint.Checkpointer(tmp_path / "ck", {"run": 1}, resume=True)
    ckpt.restore(TEMPLATE)
    assert ckpt.parts[0] == {"from_step": 0, "git": None} and ckpt.parts[1]["from_step"] == 20
    ckpt.close()
    git = provenance.git_of_parts({"commit": "d" * 40, "dirty": False}, ckpt.parts)
    assert git["dirty"] is None and report.commit_of(git).startswith("not recorded from step 0, ")
