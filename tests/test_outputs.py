"""jaxnas.outputs: atomic writes keep the previous file; output folders are checked first."""

import json
import os

import numpy as np
import pytest

from jaxnas import outputs


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "results.json"
    outputs.write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}

    def broken(f):
        f.write(b'{"a": 2, "trunc')
        raise OSError(27, "File too large")

    with pytest.raises(OSError):
        outputs.atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"a": 1}  # the previous good file is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary left


def test_save_figure_and_npz(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    outputs.save_figure(fig, tmp_path / "curve.png", dpi=50)
    plt.close(fig)
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    outputs.save_npz(tmp_path / "t.npz", x=np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "t.npz")["x"], np.arange(3))


def test_prepare_output_dir_refuses_files_and_unwritable(tmp_path):
    assert outputs.prepare_output_dir(tmp_path / "a" / "b").is_dir()
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(outputs.OutputDirError, match="is a file"):
        outputs.prepare_output_dir(afile)
    with pytest.raises(outputs.OutputDirError, match="file"):
        outputs.prepare_output_dir(afile / "sub")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(outputs.OutputDirError, match="not writable"):
            outputs.prepare_output_dir(locked)
