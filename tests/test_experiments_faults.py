"""Entry points under injected faults: a clear one-line error before any work, or the
results written honestly, and never a previous good file replaced by a broken one."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from jaxnas import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, *args, file_size_kib=None):
    command = [sys.executable, "-m", f"experiments.{module}", *args]
    if file_size_kib is not None:  # a shell ulimit: no fork of this (multithreaded) process
        command = ["bash", "-c", f'ulimit -f {file_size_kib} && exec "$0" "$@"', *command]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def _unwritable_dir(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root ignores permissions: use a folder no one can write
        if not os.path.isdir("/proc/self"):
            pytest.skip("no unwritable folder available")
        return "/proc/self"
    return str(folder)


def _assert_clean_error(proc, message):
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]


def test_bad_output_dirs_are_refused_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("")
    below_a_file = tmp_path / "a_file" / "below"
    cases = [
        ("search", [f"--output_dir={tmp_path / 'a_file'}"], "is a file, not a folder"),
        ("search", [f"--output_dir={below_a_file}"], "a part of the path is a file"),
        ("search", [f"--output_dir={_unwritable_dir(tmp_path)}"], "not writable"),
        ("search", [f"--output_dir={tmp_path / 'out'}", f"--checkpoint_dir={below_a_file}"],
         "a part of the path is a file"),
        ("predictor_eval", ["--predictor=gcn", f"--output_dir={below_a_file}"], "a part of the path is a file"),
    ]
    for module, args, message in cases:
        # A missing data folder too: the folders are checked first, before any loading.
        proc = _run(module, *args, f"--data_dir={tmp_path / 'no_data'}")
        _assert_clean_error(proc, message)


def test_impossible_budget_and_used_checkpoint_dir_are_refused(tmp_path):
    proc = _run("search", "--benchmark=nbgraph_proteins", "--budget=2500", f"--output_dir={tmp_path / 'out'}")
    _assert_clean_error(proc, "budget 2500 exceeds the 2021 architectures nbgraph_proteins contains")
    used = tmp_path / "ckpt"
    ckpt = checkpoint.Checkpointer(used, {"another": "run"}, resume=False)
    ckpt.save(5, {"x": jnp.zeros(3)})
    ckpt.close()
    proc = _run("search", "--benchmark=nb201_synthetic", "--budget=10", f"--checkpoint_dir={used}",
                f"--output_dir={tmp_path / 'out'}")
    _assert_clean_error(proc, "already holds checkpoints (5); pass --resume to continue that run, --overwrite")
    assert (used / "5").is_dir()
    assert not (tmp_path / "out" / "results.json").exists()


def test_budget_not_reached_is_stated_and_exits_3(tmp_path):
    used = tmp_path / "ckpt"
    ckpt = checkpoint.Checkpointer(used, {"another": "run"}, resume=False)
    ckpt.save(5, {"x": jnp.zeros(3)})
    ckpt.close()
    proc = _run("search", "--benchmark=nb201_synthetic", "--algorithm=random", "--budget=20", "--seeds=2",
                "--max_steps=1", f"--checkpoint_dir={used}", "--overwrite", f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "budget 20 NOT REACHED by 2 of 2 seeds" in proc.stdout and ", budget 20:" not in proc.stdout
    assert "2 of 2 seeds stopped at max_steps=1" in proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["budget_reached"] is False
    assert results["short_of_budget"] == {"seeds": [0, 1], "queries": [1, 1]}
    assert sorted(p.name for p in used.iterdir()) == ["1"]  # the old run's checkpoint was replaced
    # The first progress line comes after the first round; compilation is logged before it.
    stderr = proc.stderr
    assert stderr.index("search step compiled in") < stderr.index("first ask/tell round took")
    assert "checkpoint_manager.py" not in stderr  # orbax's INFO flood is off


def test_cut_short_write_keeps_the_previous_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"previous": "good"}')
    (out / "curve.png").write_bytes(b"previous good plot")

    # Files may not grow past 16 KiB: the plot (tens of KiB) is cut short, as on a full disk.
    proc = _run("search", "--benchmark=nb201_synthetic", "--algorithm=random", "--budget=10", "--seeds=1",
                f"--output_dir={out}", file_size_kib=16)
    _assert_clean_error(proc, "files already there are unchanged")
    assert (out / "curve.png").read_bytes() == b"previous good plot"
    json.loads((out / "results.json").read_text())  # whole JSON, never a truncated one
    assert sorted(p.name for p in out.iterdir()) == ["curve.png", "results.json"]  # no temporary files left


@pytest.mark.parametrize("module,expected", [
    ("search", ["--num_devices", "--cpu_devices", "--[no]distributed", "--checkpoint_dir", "--[no]overwrite",
                "--[no]resume", "--checkpoint_every_steps", "--max_steps",
                "--evolution_population_size: P: members of the population; the oldest dies when a child is added "
                "(default 10; 50 on nb101*).",
                "--seminas_ensemble_size", "(default: 'evolution')"]),
    ("predictor_eval", ["--num_devices", "--cpu_devices", "--[no]distributed", "--seed_batch",
                        "--gcn_epochs: Training epochs over the labelled architectures (default 300).",
                        "--assessor_ae_epochs"]),
])
def test_help_lists_every_flag_with_its_default(module, expected):
    proc = _run(module, "--help")  # absl exits with status 1 after --help
    text = " ".join((proc.stdout + proc.stderr).split())
    for item in expected:
        assert item in text, item
    assert "default per benchmark" not in text


def test_entry_points_load_one_after_another_in_one_process(entry_point):
    """The test harness's entry-point loader: each entry point's flags are its own even after
    others that define flags of the same names (--data_dir, --output_dir, --seed)."""
    from absl import flags

    names = ["experiments.search", "experiments.predictor_eval", "experiments.predictor_throughput",
             "experiments.supernet", "experiments.parsec",
             "experiments.search"]
    for name in names:
        module = entry_point(name)
        own = flags.FLAGS.flags_by_module_dict().get(name, [])
        assert own, name
        assert all(flags.FLAGS.find_module_defining_flag(f.name) in (name, "experiments.config_flags") for f in own)
    assert module.FLAGS["budget"].default == 150
