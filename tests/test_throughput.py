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


@pytest.mark.parametrize("name", [n if n == "nao" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(throughput.ADAPTERS)])
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


def test_gcn_train_step_is_the_predictors_training_step():
    """One throughput step from the predictor's initial parameters gives the parameters of
    the predictor's own one-step fit (one epoch, one minibatch of every label)."""
    from jaxnas import training
    from jaxnas.predictors import gcn

    space = get_space("nb201")
    config = gcn.GCNConfig(num_layers=2, hidden=8, fc_hidden=8, dropout=0.0, batch_size=8, epochs=1)
    model = throughput.gcn_throughput_model(space, config)
    indices = np.arange(0, 15_625, 1_953)[:8]
    inputs = model.inputs(space, indices)
    labels = jnp.linspace(80.0, 94.0, 8)
    key = jax.random.key(3)
    fitted = gcn.gcn_predictor(space, config).fit(key, space.from_index_batch(jnp.asarray(indices)), labels)

    params, opt_state = model.init(jax.random.split(key)[0], inputs)  # fit's initialisation key
    targets = training.regression_targets(config.targets, labels, jnp.ones(8, bool))[0]
    stepped, _, loss = model.train_step(params, opt_state, inputs, targets)
    assert bool(jnp.isfinite(loss))
    # fit shuffles the minibatch: the same sums in another order.
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                           stepped, fitted.params)


@pytest.mark.slow
def test_nao_train_step_is_the_predictors_training_step():
    from jaxnas import training
    from jaxnas.predictors import nao

    space = get_space("nb201")
    config = nao.NAOConfig(hidden_size=8, mlp_hidden_size=8, dropout=0.0, train_batch_size=8, pretrain_epochs=1)
    model = throughput.nao_throughput_model(space, config)
    indices = np.arange(0, 15_625, 1_953)[:8]
    inputs = model.inputs(space, indices)
    labels = jnp.linspace(80.0, 94.0, 8)
    key = jax.random.key(3)
    fitted = nao.nao_predictor(space, config).fit(key, space.from_index_batch(jnp.asarray(indices)), labels)

    params, opt_state = model.init(jax.random.split(key, 3)[0], inputs)  # fit's initialisation key
    mean, std = training.normalisation(labels)
    stepped, _, _ = model.train_step(params, opt_state, inputs, (labels - mean) / std)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                           stepped, fitted.params)


def test_torch_mirror_computes_the_jax_gcn():
    pytest.importorskip("torch")
    import torch

    space = get_space("nb101")
    model = throughput.gcn_throughput_model(space)
    inputs = model.inputs(space, np.arange(0, 423_624, 9_000))
    params, _ = model.init(jax.random.key(1), inputs)
    mirror = model.torch_model()
    mirror.load(params)
    with torch.no_grad():
        mirrored = mirror.predict(*mirror.inputs(inputs)).numpy()
    np.testing.assert_allclose(mirrored, np.asarray(model.predict(params, inputs)), atol=1e-5)


def test_torch_mirror_computes_and_trains_like_the_jax_nao():
    """Same scores, loss and gradients on copied weights; then one training step on each
    side (clipping, L2, Adam) gives the same scores again."""
    pytest.importorskip("torch")
    import torch

    from jaxnas.predictors import nao

    space = get_space("nb101")
    model = throughput.nao_throughput_model(space)
    inputs = model.inputs(space, np.arange(0, 423_624, 4_000))
    targets = jnp.asarray(np.random.default_rng(0).normal(size=inputs.shape[0]), jnp.float32)
    params, opt_state = model.init(jax.random.key(1), inputs)
    mirror = model.torch_model()
    mirror.load(params)
    torch_inputs = mirror.inputs(inputs)
    torch_targets = torch.from_numpy(np.array(targets))
    with torch.no_grad():
        np.testing.assert_allclose(mirror.predict(*torch_inputs).numpy(), np.asarray(model.predict(params, inputs)),
                                   atol=1e-5)

    # Gradients: the JAX gradient tree has the parameters' layout, so the same loader
    # puts it into a second module, parameter by parameter beside torch's .grad.
    config = nao.NAOConfig(dropout=0.0)
    loss_fn = nao.make_loss(nao.make_model(space, config), config.trade_off)
    batch = {"tokens": inputs, "target": targets, "weight": jnp.ones_like(targets)}
    grads = jax.grad(lambda p: loss_fn(p, batch, jnp.ones_like(targets), jax.random.key(0))[0])(params)
    as_torch = model.torch_model()
    as_torch.load(grads)
    mirror.optimizer.zero_grad()
    mirror.loss(*torch_inputs, torch_targets).backward()
    for (name, p), (_, g) in zip(mirror.module.named_parameters(), as_torch.module.named_parameters()):
        if name.startswith(("encoder_lstm.bias_hh", "decoder_lstm.bias_hh")):
            g = as_torch.module.get_parameter(name.replace("bias_hh", "bias_ih"))  # one JAX bias for both
        scale = float(p.grad.abs().max()) + 1e-12
        np.testing.assert_allclose(p.grad.numpy() / scale, g.detach().numpy() / scale, atol=1e-4, err_msg=name)

    params, opt_state, jax_loss = model.train_step(params, opt_state, inputs, targets)
    mirror.train_step(torch_inputs, torch_targets)
    # Adam's first step moves every weight by about the learning rate (1e-3) whatever the
    # gradient's size, so weights whose gradient is at rounding level may move either way.
    with torch.no_grad():
        np.testing.assert_allclose(mirror.predict(*torch_inputs).numpy(), np.asarray(model.predict(params, inputs)),
                                   atol=2e-3)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.predictor_throughput", *args],
                          cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_cli_writes_results(tmp_path):
    proc = _run("--predictor=gcn", "--benchmark=nb201_synthetic", "--batch_sizes=4,16", "--train_batch_size=8",
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


_DATA_PARALLEL_CHECK = """
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_num_cpu_devices", 2)
from jaxnas import distributed, throughput
from jaxnas.predictors import nao
from jaxnas.spaces import get_space
space = get_space("nb201")
model = throughput.nao_throughput_model(space, nao.NAOConfig(dropout=0.0, hidden_size=16, mlp_hidden_size=16))
inputs = model.inputs(space, np.arange(0, 15_625, 1_000)[:16])
targets = jnp.asarray(np.random.default_rng(0).normal(size=16), jnp.float32)
params, opt_state = model.init(jax.random.key(1), inputs)
mesh = distributed.device_mesh(2, "batch")
split_inputs, split_targets = throughput.split_batch((inputs, targets), mesh)
assert [s.data.shape[0] for s in split_inputs.addressable_shards] == [8, 8]
one = model.train_step(params, opt_state, inputs, targets)
two = model.train_step(*throughput.replicate((params, opt_state), mesh), split_inputs, split_targets)
for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(two)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(np.asarray(model.predict(params, inputs)),
                           np.asarray(model.predict(throughput.replicate(params, mesh), split_inputs)), atol=1e-6)
print("same")
"""


def test_data_parallel_step_is_the_same_step():
    """A NAO training step with the batch split over two CPU devices (weights replicated)
    gives the one-device step's loss, weights and optimiser state."""
    proc = subprocess.run([sys.executable, "-c", _DATA_PARALLEL_CHECK], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0 and "same" in proc.stdout, proc.stderr[-2000:]


def test_cli_num_devices_must_divide_the_batches(tmp_path):
    proc = _run("--predictor=gcn", "--benchmark=nb201_synthetic", "--batch_sizes=4,6", "--train_batch_size=8",
                "--cpu_devices=4", "--num_devices=4", "--noall_cells", f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "--num_devices=4" in proc.stderr and "[6]" in proc.stderr
    assert not (tmp_path / "results.json").exists()
    proc = _run("--predictor=gcn", "--benchmark=nb201_synthetic", "--batch_sizes=4", "--train_batch_size=4",
                "--num_devices=2", "--noall_cells", f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "--num_devices=2 but 1 cpu device(s)" in proc.stderr
    assert not (tmp_path / "results.json").exists()
