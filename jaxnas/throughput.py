"""Measuring predictor throughput honestly: timing, the matmul roofline, a PyTorch mirror.

Timings are medians of repeats after compilation and warm-up, with
``block_until_ready`` (JAX) or the result's materialisation (PyTorch, CPU/GPU synced).
The roofline is this machine's own float32 matmul rate, measured with a large matmul,
so "fraction of the matmul-bound limit" = model FLOP/s / matmul FLOP/s.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np


def median_seconds(fn: Callable[[], Any], repeats: int = 5, warmup: int = 2, min_seconds: float = 0.0) -> float:
    """Median wall time of ``fn()`` (which must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < repeats or sum(times) < min_seconds:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_seconds(fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 2,
                        settle: int = 1) -> dict:
    """Times several functions in alternation (a, b, a, b, ...), so that a load change on
    a shared machine hits all of them alike. In its turn each function first runs
    ``settle`` untimed calls: the previous function's idle worker threads (PyTorch's
    OpenMP threads spin after a parallel region; XLA's pool does too) would otherwise
    share the cores with its timed call. Returns {name: median seconds} and, under
    "speedup", {name: median over rounds of (first function's time / this one's)}: the
    ratio measured within each round, not the ratio of medians."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    first = next(iter(fns))
    out = {name: statistics.median(t) for name, t in times.items()}
    out["speedup"] = {name: statistics.median(a / b for a, b in zip(times[first], t)) for name, t in times.items()}
    return out


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (the load other jobs put on a shared
    machine while this one measured)."""
    return [round(x, 2) for x in os.getloadavg()]


def matmul_flops_per_second(size: int = 2048, repeats: int = 7) -> float:
    """This device's float32 matmul rate (FLOP/s) on a size x size x size product."""
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    matmul = jax.jit(lambda x, y: x @ y)
    seconds = median_seconds(lambda: matmul(a, b).block_until_ready(), repeats)
    return 2.0 * size**3 / seconds


def compiled_memory_bytes(jitted: Callable, *args) -> Optional[int]:
    """Bytes XLA reserves for one call (arguments + outputs + temporaries), if reported."""
    try:
        analysis = jitted.lower(*args).compile().memory_analysis()
    except Exception:  # some backends do not implement it
        return None
    if analysis is None:
        return None
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes)


def device_peak_bytes() -> Optional[int]:
    """Peak device memory in use (GPU/TPU); None on CPU, which keeps no such counter."""
    stats = jax.devices()[0].memory_stats()
    return None if not stats else int(stats.get("peak_bytes_in_use", 0)) or None


def split_batch(tree: Any, mesh: jax.sharding.Mesh, axis: int = 0) -> Any:
    """Every leaf of ``tree`` split along ``axis`` over the 1-D ``mesh``
    (:func:`jaxnas.distributed.device_mesh`). With
    the parameters replicated (:func:`replicate`), a jitted training step becomes data
    parallel: XLA's partitioner sums the gradient over the devices."""
    spec = jax.sharding.PartitionSpec(*([None] * axis), *mesh.axis_names)
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, spec))


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """Every leaf of ``tree`` copied onto each device of ``mesh``."""
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def process_peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_description() -> dict:
    devices = jax.devices()
    return {"platform": devices[0].platform, "device_kind": devices[0].device_kind, "device_count": len(devices),
            "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", "")}


def gcn_flops_per_architecture(num_nodes: int, in_features: int, hidden_sizes, fc_sizes, directions: int) -> float:
    """Forward FLOPs of the cell-graph GCN per architecture in its dense form.

    Per layer and direction: node transform 2*N*Fin*Fout plus aggregation 2*N*N*Fout;
    then the mean-pool and the fully connected head. The same count is used for every
    implementation, so achieved FLOP/s compare like with like.
    """
    flops, width = 0.0, in_features
    for out in hidden_sizes:
        flops += directions * (2 * num_nodes * width * out + 2 * num_nodes * num_nodes * out)
        width = out
    flops += num_nodes * width  # mean pool
    for out in fc_sizes:
        flops += 2 * width * out
        width = out
    return flops + 2 * width  # scalar output


def torch_gcn(in_features: int, hidden_sizes, fc_sizes, directions: int):
    """The cell-graph GCN of :mod:`jaxnas.predictors.gcn` in PyTorch (dense adjacency).

    Same layers and math: per direction relu(mean over {self} U neighbours of W h),
    directions averaged, mean-pooled over real nodes, ReLU fully connected head, scalar
    output. Inputs: adjacency float[B, N, N] (i -> j), node features float[B, N, F],
    node mask float[B, N].
    """
    import torch
    from torch import nn

    class TorchGCN(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [in_features, *hidden_sizes]
            self.layers = nn.ModuleList(
                nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for _ in range(directions))
                for i in range(len(hidden_sizes))
            )
            fc_widths = [widths[-1], *fc_sizes]
            self.fc = nn.ModuleList(nn.Linear(fc_widths[i], fc_widths[i + 1]) for i in range(len(fc_sizes)))
            self.out = nn.Linear(fc_widths[-1], 1)

        def forward(self, adjacency, features, mask):
            eye = torch.eye(adjacency.shape[-1], dtype=features.dtype, device=features.device)
            real = mask[:, :, None] * mask[:, None, :]
            # Row-normalised with self-loops; forward: a node hears its predecessors.
            forward_adj = (adjacency.transpose(1, 2) * real + eye * mask[:, :, None])
            reverse_adj = (adjacency * real + eye * mask[:, :, None])
            mats = [forward_adj, reverse_adj][:directions]
            mats = [m / m.sum(-1, keepdim=True).clamp_min(1e-12) for m in mats]
            h = features
            for layer in self.layers:
                h = sum(torch.relu(torch.bmm(m, lin(h))) for m, lin in zip(mats, layer)) / directions
            pooled = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
            for lin in self.fc:
                pooled = torch.relu(lin(pooled))
            return self.out(pooled)[:, 0]

    return TorchGCN()


def load_jax_gcn_params_into_torch(torch_model, params: Any, directions: int) -> None:
    """Copies a flax GraphRegressor's weights (gcn.make_model layout) into ``torch_gcn``."""
    import torch

    encoder = params["params"]["encoder"]
    head = params["params"]["head"]
    names = ["forward", "reverse"][:directions]
    with torch.no_grad():
        for i, layer in enumerate(torch_model.layers):
            conv = encoder[f"DirectedGraphConv_{i}"]
            for lin, name in zip(layer, names):
                lin.weight.copy_(torch.from_numpy(np.asarray(conv[name]["kernel"]).T.copy()))
                lin.bias.copy_(torch.from_numpy(np.asarray(conv[name]["bias"]).copy()))
        dense = [head[f"Dense_{i}"] for i in range(len(torch_model.fc) + 1)]
        for lin, p in zip([*torch_model.fc, torch_model.out], dense):
            lin.weight.copy_(torch.from_numpy(np.asarray(p["kernel"]).T.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(p["bias"]).copy()))


def dense_inputs(graphs, num_node_types: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(adjacency, one-hot features, mask) float32 arrays from a batch of CellGraphs."""
    node_ops = np.asarray(graphs.node_ops)
    mask = (node_ops >= 0).astype(np.float32)
    features = np.eye(num_node_types, dtype=np.float32)[np.maximum(node_ops, 0)] * mask[..., None]
    adjacency = np.asarray(graphs.adjacency, np.float32) * mask[:, :, None] * mask[:, None, :]
    return adjacency, features, mask


def torch_nao(vocab_size: int, hidden_size: int, mlp_hidden_size: int, mlp_layers: int, trade_off: float):
    """The NAO model of :mod:`jaxnas.predictors.nao` in PyTorch, as the 2020 reference
    builds it (``nn.LSTM``, ``nn.Linear``): a bidirectional LSTM encoder with a projection
    and residual, L2-normalised token states and their normalised mean as the embedding;
    the residual MLP predictor; the LSTM decoder started from (embedding, embedding) with
    attention over the token states (teacher forcing). ``predict(tokens)`` is inference
    (encoder + predictor), ``loss(tokens, targets)`` the joint training loss
    (trade_off * MSE + (1 - trade_off) * token NLL). No dropout (the throughput work)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    h = hidden_size

    class TorchNAO(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_embedding = nn.Embedding(vocab_size, h)
            self.encoder_lstm = nn.LSTM(h, h, batch_first=True, bidirectional=True)
            self.encoder_out = nn.Linear(2 * h, h)
            widths = [h] + [mlp_hidden_size] * (mlp_layers - 1) + [h]
            self.mlp = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(mlp_layers))
            self.regressor = nn.Linear(h, 1)
            self.decoder_embedding = nn.Embedding(vocab_size, h)
            self.decoder_lstm = nn.LSTM(h, h, batch_first=True)
            self.attention_in = nn.Linear(h, h, bias=False)
            self.attention_out = nn.Linear(2 * h, h, bias=False)
            self.decoder_out = nn.Linear(h, vocab_size)

        def encode(self, tokens):
            x = self.encoder_embedding(tokens)
            out, _ = self.encoder_lstm(x)
            states = F.normalize(x + self.encoder_out(out), dim=-1)
            return states, F.normalize(states.mean(1), dim=-1)

        def head(self, embedding):
            x = embedding
            for layer in self.mlp:
                x = torch.relu(layer(x))
            return self.regressor((embedding + x) * math.sqrt(0.5))[:, 0]

        def predict(self, tokens):
            return self.head(self.encode(tokens)[1])

        def forward(self, tokens):
            states, embedding = self.encode(tokens)
            shifted = torch.cat([torch.zeros_like(tokens[:, :1]), tokens[:, :-1]], dim=1)
            x = self.decoder_embedding(shifted)
            start = embedding[None].contiguous()
            out, _ = self.decoder_lstm(x, (start, start))
            y = (x + out) * math.sqrt(0.5)
            weights = torch.softmax(torch.bmm(self.attention_in(y), states.transpose(1, 2)), dim=-1)
            attended = torch.tanh(self.attention_out(torch.cat([torch.bmm(weights, states), y], dim=-1)))
            y = (y + attended) * math.sqrt(0.5)
            return self.head(embedding), torch.log_softmax(self.decoder_out(y), dim=-1)

        def loss(self, tokens, targets):
            value, log_probs = self(tokens)
            nll = -log_probs.gather(-1, tokens[..., None])[..., 0].mean(-1).mean()
            return trade_off * torch.mean((value - targets) ** 2) + (1 - trade_off) * nll

    return TorchNAO()


def load_jax_nao_params_into_torch(torch_model, params: Any) -> None:
    """Copies a flax NAO's weights (:func:`jaxnas.predictors.nao.make_model` layout) into
    ``torch_nao``. The JAX LSTMs keep one bias (torch's b_ih + b_hh): it goes to b_ih."""
    import torch

    p = params["params"]
    t = lambda a: torch.from_numpy(np.asarray(a).T.copy())
    c = lambda a: torch.from_numpy(np.asarray(a).copy())

    def lstm(module, weights, suffix=""):
        getattr(module, f"weight_ih_l0{suffix}").copy_(t(weights["input_kernel"]))
        getattr(module, f"weight_hh_l0{suffix}").copy_(t(weights["recurrent_kernel"]))
        getattr(module, f"bias_ih_l0{suffix}").copy_(c(weights["bias"]))
        getattr(module, f"bias_hh_l0{suffix}").zero_()

    with torch.no_grad():
        enc, dec, head = p["encoder"], p["decoder"], p["predictor"]
        torch_model.encoder_embedding.weight.copy_(c(enc["embedding"]["embedding"]))
        lstm(torch_model.encoder_lstm, enc["forward_lstm"])
        lstm(torch_model.encoder_lstm, enc["backward_lstm"], "_reverse")
        torch_model.encoder_out.weight.copy_(
            t(np.concatenate([enc["out_forward"]["kernel"], enc["out_backward"]["kernel"]])))
        torch_model.encoder_out.bias.copy_(c(enc["out_forward"]["bias"]))
        for i, layer in enumerate(torch_model.mlp):
            layer.weight.copy_(t(head[f"Dense_{i}"]["kernel"]))
            layer.bias.copy_(c(head[f"Dense_{i}"]["bias"]))
        torch_model.regressor.weight.copy_(t(head["regressor"]["kernel"]))
        torch_model.regressor.bias.copy_(c(head["regressor"]["bias"]))
        torch_model.decoder_embedding.weight.copy_(c(dec["embedding"]["embedding"]))
        lstm(torch_model.decoder_lstm, dec["lstm"])
        torch_model.attention_in.weight.copy_(t(dec["attention_in"]["kernel"]))
        torch_model.attention_out.weight.copy_(t(dec["attention_out"]["kernel"]))
        torch_model.decoder_out.weight.copy_(t(dec["out"]["kernel"]))
        torch_model.decoder_out.bias.copy_(c(dec["out"]["bias"]))


# ------------------------------------------------------------------ predictor adapters
class TorchMirror(NamedTuple):
    """A PyTorch copy of a predictor, measured side by side with it in the same process."""

    module: Any  # torch.nn.Module
    load: Callable[[Any], None]  # copies the JAX parameters into ``module``
    inputs: Callable[[Any], tuple]  # the JAX model's input batch -> torch tensors
    predict: Callable[..., Any]  # (*inputs) -> scores (inference)
    loss: Callable[..., Any]  # (*inputs, targets) -> the scalar training loss
    optimizer: Any  # torch optimiser over module.parameters()
    grad_bound: Optional[float] = None  # clip_grad_norm_ before each step (None: none)
    same_loss: bool = True  # the JAX training step's loss (so its value is checked equal)

    def train_step(self, inputs: tuple, targets) -> None:
        import torch

        self.optimizer.zero_grad()
        self.loss(*inputs, targets).backward()
        if self.grad_bound is not None:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_bound)
        self.optimizer.step()


class ThroughputModel:
    """What the benchmark needs from a predictor: how architectures become its inputs, a
    jitted batch inference and a jitted training step on those inputs, plus the model
    FLOPs per architecture (None when no honest count exists) and a PyTorch mirror."""

    def __init__(self, name, init, predict, train_step, flops_per_arch=None, torch_model=None,
                 inputs=None):
        self.name = name
        # (space, int32[B] architecture indices) -> the model's input batch (a pytree with
        # leading axis B); default: the per-architecture CellGraph arrays.
        self.inputs = inputs or cell_graph_inputs
        self.init = init  # key, example inputs -> (params, opt_state)
        self.predict = predict  # (params, graphs) -> scores, jitted
        self.train_step = train_step  # (params, opt_state, graphs, targets) -> (params, opt_state, loss), jitted
        self.flops_per_arch = flops_per_arch
        self.torch_model = torch_model  # () -> TorchMirror, or None


def cell_graph_inputs(space, indices) -> Any:
    """The CellGraph arrays of architectures given by index (one compiled gather)."""
    return jax.jit(jax.vmap(lambda i: space.graph(space.from_index(i))))(jnp.asarray(indices, jnp.int32))


def token_inputs(space, indices) -> jax.Array:
    """int32[B, T]: the token sequences of architectures given by index."""
    return jax.jit(jax.vmap(lambda i: space.tokens(space.from_index(i))))(jnp.asarray(indices, jnp.int32))


def network_throughput_model(name: str, network, flops_per_arch=None, torch_model=None, inputs=None,
                             targets: Callable[[jax.Array], jax.Array] = lambda t: t) -> ThroughputModel:
    """A predictor's own network (:class:`jaxnas.predictors.base.PredictorNetwork`) as the
    benchmark measures it: inference is ``network.apply``; a training step is one step of
    the predictor's training loop (:func:`jaxnas.predictors.base.network_train_step`: its
    loss, its optimiser) on ``targets(benchmark targets)`` -- the predictor's own map from
    labels to training targets -- with a fixed dropout key."""
    from jaxnas.predictors import base

    def init(key, batch):
        params = network.init(key, batch)
        return params, network.optimizer.init(params)

    @jax.jit
    def train_step(params, opt_state, batch, values):
        return base.network_train_step(network, params, opt_state, batch, targets(values), jax.random.key(0))

    return ThroughputModel(name, init, jax.jit(network.apply), train_step, flops_per_arch, torch_model, inputs)


def _gcn_torch_mirror(space, config, same_loss: bool) -> Callable[[], TorchMirror]:
    """() -> the PyTorch mirror of the cell-graph GCN at ``config``'s sizes, trained with MSE."""
    directions = 2 if config.directions == "both" else 1
    if config.directions not in ("both", "forward"):
        raise ValueError("the throughput mirror implements directions 'both' and 'forward'")
    hidden = (config.hidden,) * config.num_layers

    def torch_model():
        import torch

        module = torch_gcn(space.num_node_types, hidden, (config.fc_hidden,), directions)
        return TorchMirror(
            module=module,
            load=lambda params: load_jax_gcn_params_into_torch(module, params, directions),
            inputs=lambda graphs: tuple(torch.from_numpy(x) for x in dense_inputs(graphs, space.num_node_types)),
            predict=module,
            loss=lambda a, f, m, targets: torch.mean((module(a, f, m) - targets) ** 2),
            optimizer=torch.optim.Adam(module.parameters(), lr=config.learning_rate),
            same_loss=same_loss,
        )

    return torch_model


def _gcn_flops(space, config) -> float:
    directions = 2 if config.directions == "both" else 1
    return gcn_flops_per_architecture(space.max_nodes, space.num_node_types, (config.hidden,) * config.num_layers,
                                      (config.fc_hidden,), directions)


def gcn_throughput_model(space, config=None, name: str = "gcn") -> ThroughputModel:
    """The GCN predictor's network (Wen et al. sizes by default): its MSE loss and optimiser
    (L2, Adam, cosine decay over ``epochs`` steps). Dropout is off by default, so the
    PyTorch mirror (MSE, Adam) does the same work."""
    from jaxnas.predictors import gcn

    config = config or gcn.GCNConfig(dropout=0.0)
    network = gcn.gcn_network(space, config, config.epochs)
    return network_throughput_model(name, network, _gcn_flops(space, config), _gcn_torch_mirror(space, config, True))


def nao_throughput_model(space, config=None, name: str = "nao") -> ThroughputModel:
    """SemiNAS's NAO (LSTM encoder, MLP predictor, attention decoder) on token sequences:
    inference = encoder + predictor; a training step = the joint MSE + reconstruction loss
    (teacher-forced decoder) with the reference optimiser (clipping, L2, Adam); the
    PyTorch mirror (:func:`torch_nao`) does the same with ``nn.LSTM``. No FLOP count (the
    LSTMs' recurrent steps are not a matmul-bound workload)."""
    from jaxnas.predictors import nao

    config = config or nao.NAOConfig(dropout=0.0)

    def torch_model():
        import torch

        module = torch_nao(space.vocab_size, config.hidden_size, config.mlp_hidden_size, config.mlp_layers,
                           config.trade_off)
        return TorchMirror(
            module=module,
            load=lambda params: load_jax_nao_params_into_torch(module, params),
            inputs=lambda tokens: (torch.from_numpy(np.asarray(tokens, np.int64)),),
            predict=module.predict,
            loss=module.loss,
            optimizer=torch.optim.Adam(module.parameters(), lr=config.learning_rate, weight_decay=config.l2_reg),
            grad_bound=config.grad_bound,
        )

    return network_throughput_model(name, nao.nao_network(space, config), torch_model=torch_model,
                                    inputs=token_inputs)


def acenas_throughput_model(space, config=None, name: str = "acenas") -> ThroughputModel:
    """AceNAS's ranker as each ``fit`` finetunes it (from scratch: ``learning_rate``): the
    cell-graph GCN at AceNAS's widths, its finetuning loss (LambdaRank over all pairs of
    the batch, relevance from the targets) and optimiser. The PyTorch mirror is the GCN at
    these widths (its training step uses MSE, so only the inference ratio compares like
    with like)."""
    from jaxnas.predictors import acenas

    config = config or acenas.AceNASConfig(dropout=0.0)
    network = acenas.finetune_network(space, config, config.epochs)
    return network_throughput_model(
        name, network, _gcn_flops(space, config), _gcn_torch_mirror(space, config, config.finetune_loss == "mse"),
        targets=lambda values: acenas.finetune_targets(config, values))


def assessor_throughput_model(space, config=None, name: str = "assessor") -> ThroughputModel:
    """The semi-supervised assessor on a batch: its unit of work is a relation graph, so a
    batch of B architectures is embedded by the auto-encoder's encoder, joined into its
    own symmetric kNN relation graph (k = min(knn, B - 1)), and the relation GCN scores
    every node. A training step is one transductive step of the assessor's relation-GCN
    stage (:func:`jaxnas.predictors.assessor.relation_network`: its loss and optimiser)
    with every node labelled (the auto-encoder is pretrained and frozen in the method, so
    its encoding is part of the inputs' cost, not of the gradient). Weights are random:
    the cost does not depend on them. No PyTorch mirror and no FLOP count (kNN + sparse)."""
    from jaxnas.predictors import assessor, base, gcn

    config = config or assessor.AssessorConfig(dropout=0.0)
    autoencoder = assessor.make_autoencoder(space, config)
    network = assessor.relation_network(config)

    def relation_batch(ae_params, graphs):
        z = autoencoder.apply(ae_params, gcn.batch_graphs(space, graphs), method=assessor.ArchAutoEncoder.encode)
        z = assessor.architecture_features(z, config.ae_latent, config.readout_weight)
        mean, std = assessor.feature_scale(z, config.ae_latent, config.readout_weight)
        z = (z - mean) / std
        n = z.shape[0]
        k = min(config.knn, n - 1)
        if k == 0:  # a single architecture: no neighbours, the GCN sees only itself
            features = jnp.concatenate([z, jnp.zeros_like(z)])
            edges = assessor.normalise(jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32),
                                       jnp.zeros((0,), jnp.float32), n + 1)
        else:
            graph = assessor.build_relation_graph(z, k, config.bandwidth_scale, config.min_weight).graph
            features = graph.nodes
            edges = assessor.normalise(graph.senders, graph.receivers, graph.edges, n + 1)
        propagated = assessor.propagate_hops(features, edges, config.input_hops)
        return assessor.RelationBatch(features, propagated, edges, jnp.arange(n))

    def init(key, graphs):
        ae_key, gcn_key = jax.random.split(key)
        ae_params = autoencoder.init(ae_key, gcn.batch_graphs(space, graphs))
        relation_params = network.init(gcn_key, relation_batch(ae_params, graphs))
        return {"autoencoder": ae_params, **relation_params}, network.optimizer.init(relation_params)

    @jax.jit
    def predict(params, graphs):
        return network.apply(params, relation_batch(params["autoencoder"], graphs))

    @jax.jit
    def train_step(params, opt_state, graphs, targets):
        batch = jax.lax.stop_gradient(relation_batch(params["autoencoder"], graphs))
        relation_params, opt_state, loss = base.network_train_step(
            network, {"gcn": params["gcn"]}, opt_state, batch, targets, jax.random.key(0))
        return {**params, **relation_params}, opt_state, loss

    return ThroughputModel(name, init, predict, train_step)


ADAPTERS = {"gcn": gcn_throughput_model, "nao": nao_throughput_model, "acenas": acenas_throughput_model,
            "assessor": assessor_throughput_model}
