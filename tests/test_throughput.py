"""The predictor throughput benchmark: adapters, FLOP count, PyTorch mirror, CLI."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import metrics, throughput
from jaxnas.spaces import get_space

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gcn_flops_count_by_hand():
    # 2 nodes, 3 input features, one layer of 4 units, one direction, head 5 -> 1.
    flops = throughput.gcn_flops_per_architecture(2, 3, (4,), (5,), 1)
    layer = 2 * 2 * 3 * 4 + 2 * 2 * 2 * 4
    pool = 2 * 4
    head = 2 * 4 * 5 + 2 * 5
    assert flops == layer + pool + head


@pytest.mark.parametrize("name", sorted(throughput.ADAPTERS))
def test_adapters_predict_and_train(name):
    space = get_space("nb201")
    model = throughput.ADAPTERS[name](space)
    inputs = model.inputs(space, np.arange(8))
    params, opt_state = model.init(jax.random.key(0), inputs)
    scores = model.predict(params, inputs)
    assert scores.shape == (8,) and bool(jnp.all(jnp.isfinite(scores)))
    targets = jnp.linspace(-1.0, 1.0, 8)
    tau_before = float(metrics.kendall_tau(targets, model.predict(params, inputs)))
    losses = []
    for _ in range(30):
        params, opt_state, loss = model.train_step(params, opt_state, inputs, targets)
        losses.append(float(loss))
    if name == "acenas":
        # LambdaRank's pair weights follow the predicted order, so its loss is not
        # monotone; what it must improve is the ranking.
        tau_after = float(metrics.kendall_tau(targets, model.predict(params, inputs)))
        assert tau_after > max(tau_before, 0.5)
    else:
        assert losses[-1] < losses[0]  # the step really trains


def test_torch_mirror_computes_the_jax_gcn():
    pytest.importorskip("torch")
    import torch

    space = get_space("nb101")
    model = throughput.gcn_throughput_model(space)
    inputs = model.inputs(space, np.arange(0, 423_624, 9_000))
    params, _ = model.init(jax.random.key(1), inputs)
    module, load = model.torch_model()
    load(params)
    dense = [torch.from_numpy(x) for x in throughput.dense_inputs(inputs, space.num_node_types)]
    with torch.no_grad():
        mirrored = module(*dense).numpy()
    np.testing.assert_allclose(mirrored, np.asarray(model.predict(params, inputs)), atol=1e-5)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.predictor_throughput", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_cli_writes_results(tmp_path):
    proc = _run("--predictor=gcn", "--benchmark=nb201_cifar10", "--batch_sizes=4,16", "--train_batch_size=8",
                "--repeats=1", "--torch=false", "--all_cells_chunks=1024,4096", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["jax"]) == {"4", "8", "16"}
    row = results["jax"]["16"]
    assert row["inference"]["architectures_per_second"] > 0 and row["train_step"]["steps_per_second"] > 0
    assert 0 < row["inference"]["fraction_of_matmul"] < 1.5
    all_cells = results["all_cells"]
    assert all_cells["architectures"] == 15_625 and set(all_cells["by_chunk"]) == {"1024", "4096"}
    fastest = min(all_cells["by_chunk"].items(), key=lambda kv: kv[1]["jax"]["seconds"])
    assert all_cells["jax"]["chunk"] == int(fastest[0]) and all_cells["jax"]["seconds"] == fastest[1]["jax"]["seconds"]
    assert results["device"]["device_count"] >= 1 and results["matmul_flops_per_second"] > 0
    assert "all 15,625 cells" in proc.stdout


def test_cli_bad_batch_sizes(tmp_path):
    proc = _run("--batch_sizes=4,x", f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "batch_sizes" in proc.stderr
    assert not (tmp_path / "results.json").exists()
