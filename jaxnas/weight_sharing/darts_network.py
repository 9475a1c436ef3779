"""The DARTS cell space (Liu et al. 2019) as a weight-sharing supernet and standalone network.

A cell has two inputs (the outputs of the two previous cells, preprocessed to C
channels) and 4 intermediate nodes; node j (0..3) picks 2 distinct inputs among the j+2
earlier states and applies one of 7 primitives to each; the cell outputs the 4 nodes
concatenated (4C channels). Normal cells keep the resolution; in reduction cells the
edges leaving the two cell inputs have stride 2 and the channels double. The network is
DARTS's search network: a 3x3 conv stem (3C channels), ``num_layers`` cells with reductions
at layers//3 and 2*layers//3, global pooling and a linear classifier. All normal cells
share the normal genotype and all reduction cells the reduction genotype; weights are
per cell. BN inside candidate ops is non-affine, as in DARTS's search network.

An architecture (:class:`DartsArch`) is, per cell type, ``inputs int32[4]`` (node j's
pair of inputs, an index into ``PAIRS[j]``) and ``ops int32[4, 2]`` (the primitive of
each of the pair's edges, lower input first).

Supernet: ``model.apply(params, images, arch)`` runs, for each node and each of its two
slots, only the chosen (input, op): a ``lax.switch`` over the candidate inputs, each
branch a ``lax.switch`` over that edge's 7 ops. The compiled pass therefore holds the
activations of 8 ops per cell, one architecture's worth. Standalone
(``fixed=genotype``): only the chosen edges and ops exist, under the same names, so
``subnet_params(super_params, arch)`` is its params pytree. ``method="mixed"`` is the
DARTS relaxation (every op of every edge, weighted) kept as the memory baseline.
"""

from __future__ import annotations

import itertools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxnas.weight_sharing import layers

PRIMITIVES = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
NUM_OPS = len(PRIMITIVES)
NUM_NODES = 4
# Candidate input pairs of node j: distinct earlier states (0, 1 = cell inputs; 2+ = nodes).
PAIRS = tuple(tuple(itertools.combinations(range(j + 2), 2)) for j in range(NUM_NODES))
NUM_PAIRS = tuple(len(p) for p in PAIRS)  # (1, 3, 6, 10)
MAX_PAIRS = max(NUM_PAIRS)
_PAIR_TABLE = np.array([list(p) + [(0, 0)] * (MAX_PAIRS - len(p)) for p in PAIRS], np.int32)  # [4, 10, 2]
NUM_EDGES = sum(j + 2 for j in range(NUM_NODES))  # 14, DARTS's edge order
_EDGE_OFFSET = np.cumsum([0] + [j + 2 for j in range(NUM_NODES - 1)])  # (0, 2, 5, 9)
CELL_TYPES = ("normal", "reduce")


@struct.dataclass
class DartsArch:
    """A DARTS genotype as arrays (leading batch axes allowed)."""

    normal_inputs: jax.Array  # int32[4], index into PAIRS[j]
    normal_ops: jax.Array  # int32[4, 2], index into PRIMITIVES
    reduce_inputs: jax.Array
    reduce_ops: jax.Array

    def cell(self, cell_type: str):
        return (self.normal_inputs, self.normal_ops) if cell_type == "normal" else (self.reduce_inputs, self.reduce_ops)


def check_arch(arch: DartsArch) -> None:
    """Raises ValueError saying what is wrong with a concrete (unbatched) genotype."""
    for cell_type in CELL_TYPES:
        inputs, ops = (np.asarray(a) for a in arch.cell(cell_type))
        if inputs.shape != (NUM_NODES,) or ops.shape != (NUM_NODES, 2):
            raise ValueError(f"{cell_type} cell: inputs must be int[4] and ops int[4, 2], got "
                             f"{inputs.shape} and {ops.shape}")
        for j in range(NUM_NODES):
            if not 0 <= inputs[j] < NUM_PAIRS[j]:
                raise ValueError(f"{cell_type} node {j}: input pair {inputs[j]} not in [0, {NUM_PAIRS[j]})")
        if ops.min() < 0 or ops.max() >= NUM_OPS:
            raise ValueError(f"{cell_type} cell: ops must be in [0, {NUM_OPS}) ({PRIMITIVES}), got {ops.tolist()}")


def genotype(arch: DartsArch) -> dict:
    """DARTS-style genotype: per cell type, a list of (op name, input state) pairs."""
    check_arch(arch)
    out = {}
    for cell_type in CELL_TYPES:
        inputs, ops = (np.asarray(a) for a in arch.cell(cell_type))
        out[cell_type] = [
            (PRIMITIVES[int(ops[j, s])], int(PAIRS[j][int(inputs[j])][s]))
            for j in range(NUM_NODES) for s in range(2)
        ]
        out[f"{cell_type}_concat"] = list(range(2, 2 + NUM_NODES))
    return out


def edge_ops(inputs: jax.Array, ops: jax.Array) -> jax.Array:
    """int32[14]: the op on each DARTS edge, NUM_OPS where the edge is unused (jittable)."""
    codes = jnp.full(NUM_EDGES, NUM_OPS, jnp.int32)
    for j in range(NUM_NODES):
        pair = jnp.asarray(_PAIR_TABLE)[j, inputs[j]]
        for s in range(2):
            codes = codes.at[_EDGE_OFFSET[j] + pair[s]].set(ops[j, s])
    return codes


class FactorizedReduce(nn.Module):
    """Halves the resolution: two offset stride-2 1x1 convs, concatenated, then BN."""

    features: int
    affine: bool = True

    @nn.compact
    def __call__(self, x):
        if self.features % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {self.features}")
        x = nn.relu(x)
        a = layers.Conv(self.features // 2, 1, stride=2, name="conv_1")(x)
        b = layers.Conv(self.features // 2, 1, stride=2, name="conv_2")(x[:, 1:, 1:, :])
        b = jnp.pad(b, ((0, 0), (0, a.shape[1] - b.shape[1]), (0, a.shape[2] - b.shape[2]), (0, 0)))
        return layers.BatchNorm(self.affine, name="bn")(jnp.concatenate([a, b], axis=-1))


class SepConv(nn.Module):
    """(ReLU, depthwise kxk, pointwise 1x1, BN) twice; the first with the edge's stride."""

    features: int
    kernel: int
    stride: int
    depthwise_impl: str = "slices"

    @nn.compact
    def __call__(self, x):
        for i, stride in enumerate((self.stride, 1)):
            x = layers.Conv(x.shape[-1], self.kernel, stride, depthwise=True, depthwise_impl=self.depthwise_impl,
                            name=f"dw_{i}")(nn.relu(x))
            x = layers.Conv(self.features, 1, name=f"pw_{i}")(x)
            x = layers.BatchNorm(affine=False, name=f"bn_{i}")(x)
        return x


class DilConv(nn.Module):
    """ReLU, depthwise kxk dilated by 2, pointwise 1x1, BN."""

    features: int
    kernel: int
    stride: int
    depthwise_impl: str = "slices"

    @nn.compact
    def __call__(self, x):
        x = layers.Conv(x.shape[-1], self.kernel, self.stride, dilation=2, depthwise=True,
                        depthwise_impl=self.depthwise_impl, name="dw")(nn.relu(x))
        x = layers.Conv(self.features, 1, name="pw")(x)
        return layers.BatchNorm(affine=False, name="bn")(x)


class DartsEdge(nn.Module):
    """One edge (earlier state -> node) with its candidate ops; ``fixed_op`` keeps one.

    In the supernet, op index NUM_OPS means "edge unused by this genotype" (zeros).
    """

    channels: int
    stride: int
    fixed_op: Optional[int] = None
    depthwise_impl: str = "slices"  # layers.DEPTHWISE_IMPLS key (same function, other compile/run cost)

    def setup(self):
        present = range(NUM_OPS) if self.fixed_op is None else (self.fixed_op,)
        c, s, dw = self.channels, self.stride, self.depthwise_impl
        builders = {
            0: lambda: layers.BatchNorm(affine=False),  # DARTS puts a BN after pools
            1: lambda: layers.BatchNorm(affine=False),
            2: lambda: FactorizedReduce(c, affine=False) if s == 2 else None,
            3: lambda: SepConv(c, 3, s, dw),
            4: lambda: SepConv(c, 5, s, dw),
            5: lambda: DilConv(c, 3, s, dw),
            6: lambda: DilConv(c, 5, s, dw),
        }
        modules = {}
        for o in present:
            module = builders[o]()
            if module is not None:
                modules[PRIMITIVES[o]] = module
        self.ops = modules

    def _branch(self, o):
        if o == NUM_OPS:  # unused edge
            return lambda m, x: jnp.zeros(
                (x.shape[0], -(-x.shape[1] // m.stride), -(-x.shape[2] // m.stride), m.channels), x.dtype)
        name = PRIMITIVES[o]
        if o == 0:
            return lambda m, x: m.ops[name](layers.max_pool_3x3(x, m.stride))
        if o == 1:
            return lambda m, x: m.ops[name](layers.avg_pool_3x3(x, m.stride))
        if o == 2 and self.stride == 1:
            return lambda m, x: x
        return lambda m, x: m.ops[name](x)

    def __call__(self, x, op=None):
        return layers.switch_or_call(op, self.fixed_op, self, [self._branch(o) for o in range(NUM_OPS + 1)], x)

    def mixed(self, x, weights):
        return sum(weights[o] * self._branch(o)(self, x) for o in range(NUM_OPS))


class DartsCell(nn.Module):
    """Preprocessing, 14 edges (supernet) or the genotype's 8 (standalone), 4 nodes."""

    channels: int
    reduction: bool
    reduction_prev: bool
    fixed: Optional[tuple] = None  # ((pair, (op_a, op_b)),) * 4 for a standalone cell
    depthwise_impl: str = "slices"

    def setup(self):
        c = self.channels
        self.preprocess0 = FactorizedReduce(c) if self.reduction_prev else layers.ReLUConvBN(c, 1)
        self.preprocess1 = layers.ReLUConvBN(c, 1)
        edges = {}
        for j in range(NUM_NODES):
            if self.fixed is None:
                used = {i: None for i in range(j + 2)}
            else:
                pair, ops = self.fixed[j]
                used = dict(zip(PAIRS[j][pair], ops))
            for i, op in used.items():
                stride = 2 if self.reduction and i < 2 else 1
                edges[str(_EDGE_OFFSET[j] + i)] = DartsEdge(c, stride, op, self.depthwise_impl)
        self.edges = edges

    def _run(self, s0, s1, edge_fn):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j in range(NUM_NODES):
            terms = [edge_fn(str(_EDGE_OFFSET[j] + i), _EDGE_OFFSET[j] + i, states[i])
                     for i in range(j + 2) if str(_EDGE_OFFSET[j] + i) in self.edges]
            states.append(sum(terms[1:], terms[0]))
        return jnp.concatenate(states[2:], axis=-1)

    def __call__(self, s0, s1, inputs=None, ops=None):
        if self.fixed is not None:
            return self._run(s0, s1, lambda name, e, x: self.edges[name](x))
        codes = edge_ops(inputs, ops)  # only the chosen (input, op) pairs compute anything
        return self._run(s0, s1, lambda name, e, x: self.edges[name](x, codes[e]))

    def mixed(self, s0, s1, weights):
        """weights float[14, NUM_OPS] in DARTS's edge order."""
        return self._run(s0, s1, lambda name, e, x: self.edges[name].mixed(x, weights[e]))


class DartsNetwork(nn.Module):
    """DARTS search network; ``fixed`` (a concrete DartsArch as nested tuples) = standalone."""

    channels: int = 16
    num_layers: int = 8
    num_classes: int = 10
    stem_multiplier: int = 3
    fixed: Optional[tuple] = None  # {"normal": cell tuple, "reduce": cell tuple} as a tuple pair
    depthwise_impl: str = "slices"  # "dense": compiles ~3x faster, runs slower (layers.depthwise_conv2d_dense)

    def setup(self):
        if self.num_layers < 3 or self.channels < 2 or self.channels % 2:
            raise ValueError(f"DartsNetwork needs num_layers >= 3 and an even channel count >= 2, got "
                             f"num_layers={self.num_layers}, channels={self.channels}")
        c = self.channels
        self.stem_conv = layers.conv(self.stem_multiplier * c, 3)
        self.stem_bn = layers.BatchNorm()
        cells, reduction_prev = [], False
        for i in range(self.num_layers):
            reduction = i in self.reduction_layers()
            if reduction:
                c *= 2
            fixed = None if self.fixed is None else self.fixed[1 if reduction else 0]
            cells.append(DartsCell(c, reduction, reduction_prev, fixed, self.depthwise_impl))
            reduction_prev = reduction
        self.cells = cells
        self.classifier = nn.Dense(self.num_classes, kernel_init=layers.DENSE_INIT)

    def reduction_layers(self):
        return (self.num_layers // 3, 2 * self.num_layers // 3)

    def _forward(self, images, cell_fn):
        s0 = s1 = self.stem_bn(self.stem_conv(images))
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell_fn(cell, "reduce" if i in self.reduction_layers() else "normal", s0, s1)
        return self.classifier(jnp.mean(s1, axis=(1, 2)))

    def __call__(self, images, arch: Optional[DartsArch] = None):
        if self.fixed is not None:
            return self._forward(images, lambda cell, t, s0, s1: cell(s0, s1))
        if arch is None:
            raise ValueError("the DARTS supernet needs an architecture (DartsArch); a standalone network has fixed")
        return self._forward(images, lambda cell, t, s0, s1: cell(s0, s1, *arch.cell(t)))

    def mixed(self, images, op_weights):
        """DARTS relaxation: op_weights float[2, 14, NUM_OPS] (normal, reduce)."""
        return self._forward(images, lambda cell, t, s0, s1: cell.mixed(s0, s1, op_weights[CELL_TYPES.index(t)]))


def _fixed_cells(arch: DartsArch) -> tuple:
    check_arch(arch)
    out = []
    for cell_type in CELL_TYPES:
        inputs, ops = (np.asarray(a) for a in arch.cell(cell_type))
        out.append(tuple((int(inputs[j]), (int(ops[j, 0]), int(ops[j, 1]))) for j in range(NUM_NODES)))
    return tuple(out)


def supernet(channels: int = 16, num_layers: int = 8, num_classes: int = 10,
             depthwise_impl: str = "slices") -> DartsNetwork:
    return DartsNetwork(channels, num_layers, num_classes, depthwise_impl=depthwise_impl)


def standalone(arch: DartsArch, channels: int = 16, num_layers: int = 8, num_classes: int = 10,
               depthwise_impl: str = "slices") -> DartsNetwork:
    """Network for one genotype; its params are ``subnet_params(super_params, arch, num_layers)``."""
    return DartsNetwork(channels, num_layers, num_classes, fixed=_fixed_cells(arch), depthwise_impl=depthwise_impl)


def example_arch() -> DartsArch:
    """A valid genotype (every node's first pair, sep_conv_3x3 everywhere), e.g. for init."""
    zeros = jnp.zeros(NUM_NODES, jnp.int32)
    ops = jnp.full((NUM_NODES, 2), 3, jnp.int32)
    return DartsArch(zeros, ops, zeros, ops)


def init(key: jax.Array, model: DartsNetwork, image_shape=(32, 32, 3)) -> Any:
    images = jnp.zeros((2, *image_shape), jnp.float32)
    arch = None if model.fixed is not None else example_arch()
    return layers.init_params(key, model, images, arch)


def subnet_params(params: Any, arch: DartsArch, num_layers: int) -> Any:
    """The supernet weights genotype ``arch`` uses: the standalone network's params pytree.

    ``num_layers`` is the network's ``layers`` (it says which cells are reduction cells).
    """
    fixed = _fixed_cells(arch)
    reductions = (num_layers // 3, 2 * num_layers // 3)
    out = {}
    for name, sub in params.items():
        if not name.startswith("cells_"):
            out[name] = sub
            continue
        cell_fixed = fixed[1 if int(name.split("_")[1]) in reductions else 0]
        cell = {k: v for k, v in sub.items() if not k.startswith("edges_")}
        for j, (pair, ops) in enumerate(cell_fixed):
            for i, op in zip(PAIRS[j][pair], ops):
                key = f"edges_{_EDGE_OFFSET[j] + i}"
                kept = {k: v for k, v in sub.get(key, {}).items() if k == f"ops_{PRIMITIVES[op]}"}
                if kept:
                    cell[key] = kept
        out[name] = cell
    return out
