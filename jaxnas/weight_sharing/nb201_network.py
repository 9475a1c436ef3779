"""The NAS-Bench-201 network as a weight-sharing supernet and as a standalone network.

Layout (Dong & Yang 2020): a 3x3 conv stem (C channels) + BN, three stages of N cells
with C, 2C and 4C channels, a residual reduction block (stride 2) between stages, then
BN-ReLU, global average pooling and a linear classifier. A cell has 4 nodes and 6 edges
(0->1, 0->2, 1->2, 0->3, 1->3, 2->3, the order of ``jaxnas.spaces.nb201``); node j sums
its incoming edges, and the cell's output is node 3. Every cell of the network uses the
same ops, as in NB201.

One class, two modes, one parameter layout:

* **supernet** (``fixed_ops=None``): every edge holds the weights of every candidate op;
  ``model.apply(params, images, ops)`` takes the cell as a traced ``int32[6]`` and runs
  ONLY the chosen op on each edge (``lax.switch``), so a pass costs what the chosen
  architecture costs. ``model.apply(params, images, op_weights, method="mixed")`` is the
  DARTS-style relaxation (every op computed, weighted by ``op_weights float[6, 5]``),
  kept as the memory baseline.
* **standalone** (``fixed_ops=(o0, ..., o5)``): a network for one fixed cell, holding
  only the chosen ops' weights, under the same names. ``subnet_params(super_params, ops)``
  is therefore exactly the standalone network's parameter pytree, and the two compute
  the same function.

Evaluating several architectures: ``jax.lax.map`` over them (one at a time, memory of
one architecture). Do not ``jax.vmap`` over ``ops``: a batched switch index computes
every branch.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.weight_sharing import layers
from jaxnas.spaces import nb201 as nb201_space

OP_NAMES = nb201_space.OP_NAMES
NUM_OPS = nb201_space.NUM_OPS
NUM_EDGES = nb201_space.NUM_EDGES
EDGES = nb201_space.EDGES

# Submodule name of each op that has weights (the name is the same in both modes).
_OP_MODULE = {2: "nor_conv_1x1", 3: "nor_conv_3x3"}

# Supernet edges rematerialise their op with this policy (``layers.switch_or_call``, and
# every op of ``mixed``): the backward pass keeps each edge's input and conv output and
# recomputes ReLU/BN/pooling, inside the chosen branch only. Same values and gradients;
# ``None`` restores the plain ``lax.switch`` (the test that checks they are equal uses it).
# scripts/parsec_memory.py measures both settings on both sides.
REMAT_POLICY = layers.SAVE_CONV_OUTPUTS

# Branch o computes op o (signature (edge module, x) -> y, as nn.switch wants).
_BRANCHES = (
    lambda m, x: jnp.zeros_like(x),
    lambda m, x: x,
    lambda m, x: m.nor_conv_1x1(x),
    lambda m, x: m.nor_conv_3x3(x),
    lambda m, x: layers.avg_pool_3x3(x),
)


class NB201Edge(nn.Module):
    channels: int
    fixed_op: Optional[int] = None
    affine: bool = False

    def setup(self):
        present = range(NUM_OPS) if self.fixed_op is None else (self.fixed_op,)
        if 2 in present:
            self.nor_conv_1x1 = layers.ReLUConvBN(self.channels, 1, affine=self.affine)
        if 3 in present:
            self.nor_conv_3x3 = layers.ReLUConvBN(self.channels, 3, affine=self.affine)

    def __call__(self, x, op=None):
        return layers.switch_or_call(op, self.fixed_op, self, _BRANCHES, x, remat_policy=REMAT_POLICY)

    def mixed(self, x, weights):
        """sum_o weights[o] * op_o(x): every candidate op computed (DARTS relaxation).

        Each op is rematerialised with REMAT_POLICY too, so memory comparisons with the
        sampled (switch) edge are like for like."""
        branches = _BRANCHES if REMAT_POLICY is None else [nn.remat(b, policy=REMAT_POLICY) for b in _BRANCHES]
        return sum(weights[o] * branches[o](self, x) for o in range(NUM_OPS))


class NB201SearchCell(nn.Module):
    channels: int
    fixed_ops: Optional[tuple[int, ...]] = None
    edge_affine: bool = False

    def setup(self):
        fixed = self.fixed_ops or (None,) * NUM_EDGES
        self.edges = [NB201Edge(self.channels, fixed[e], self.edge_affine) for e in range(NUM_EDGES)]

    def _nodes(self, x, edge_fn):
        nodes = [x]
        for dst in range(1, 4):
            incoming = [edge_fn(e, nodes[src]) for e, (src, d) in enumerate(EDGES) if d == dst]
            nodes.append(sum(incoming[1:], incoming[0]))
        return nodes[-1]

    def __call__(self, x, ops=None):
        return self._nodes(x, lambda e, h: self.edges[e](h, None if ops is None else ops[e]))

    def mixed(self, x, op_weights):
        return self._nodes(x, lambda e, h: self.edges[e].mixed(h, op_weights[e]))


class ResidualReduction(nn.Module):
    """NB201's ResNetBasicblock(stride 2): two ReLU-conv-BN, avgpool+1x1 conv shortcut."""

    features: int

    @nn.compact
    def __call__(self, x):
        y = layers.ReLUConvBN(self.features, 3, stride=2, name="conv_a")(x)
        y = layers.ReLUConvBN(self.features, 3, name="conv_b")(y)
        shortcut = nn.avg_pool(x, (2, 2), (2, 2))
        shortcut = layers.conv(self.features, 1, name="downsample")(shortcut)
        return y + shortcut


class NB201Network(nn.Module):
    """Supernet (``fixed_ops=None``) or standalone network for the cell ``fixed_ops``."""

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    fixed_ops: Optional[tuple[int, ...]] = None
    edge_affine: bool = False  # learnable scale/bias in the ops' BN (NB201's search supernet: none)

    def setup(self):
        if self.fixed_ops is not None:
            if len(self.fixed_ops) != NUM_EDGES or not all(0 <= int(o) < NUM_OPS for o in self.fixed_ops):
                raise ValueError(f"fixed_ops must be {NUM_EDGES} op indices in [0, {NUM_OPS}), got {self.fixed_ops}")
        if self.channels < 1 or self.cells_per_stage < 1 or self.num_classes < 2:
            raise ValueError(f"bad NB201Network size: channels={self.channels}, "
                             f"cells_per_stage={self.cells_per_stage}, num_classes={self.num_classes}")
        c = self.channels
        self.stem_conv = layers.conv(c, 3)
        self.stem_bn = layers.BatchNorm()
        self.cells = [
            NB201SearchCell(c * 2**stage, self.fixed_ops, self.edge_affine)
            for stage in range(3)
            for _ in range(self.cells_per_stage)
        ]
        self.reductions = [ResidualReduction(c * 2**stage) for stage in (1, 2)]
        self.last_bn = layers.BatchNorm()
        self.classifier = nn.Dense(self.num_classes, kernel_init=layers.DENSE_INIT)

    def _forward(self, images, cell_fn):
        h = self.stem_bn(self.stem_conv(images))
        for stage in range(3):
            if stage:
                h = self.reductions[stage - 1](h)
            for i in range(self.cells_per_stage):
                h = cell_fn(self.cells[stage * self.cells_per_stage + i], h)
        h = nn.relu(self.last_bn(h))
        return self.classifier(jnp.mean(h, axis=(1, 2)))

    def __call__(self, images, ops=None):
        """Logits float[B, num_classes]; ``ops`` int32[6] selects the cell (supernet)."""
        if self.fixed_ops is None and ops is None:
            raise ValueError("the NB201 supernet needs ops (int32[6]); a standalone network has fixed_ops")
        return self._forward(images, lambda cell, h: cell(h, ops))

    def mixed(self, images, op_weights):
        """DARTS-style relaxation: every op on every edge, weighted by op_weights[6, 5]."""
        if self.fixed_ops is not None:
            raise ValueError("mixed() needs the supernet (fixed_ops=None)")
        return self._forward(images, lambda cell, h: cell.mixed(h, op_weights))


def supernet(channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
             edge_affine: bool = False) -> NB201Network:
    return NB201Network(channels, cells_per_stage, num_classes, edge_affine=edge_affine)


def standalone(ops: Sequence[int], channels: int = 16, cells_per_stage: int = 5,
               num_classes: int = 10, edge_affine: bool = False) -> NB201Network:
    """Network for the one cell ``ops`` (int[6]); its params are ``subnet_params(..., ops)``
    of a supernet with the same ``edge_affine``."""
    return NB201Network(channels, cells_per_stage, num_classes, tuple(int(o) for o in np.asarray(ops)),
                        edge_affine)


def init(key: jax.Array, model: NB201Network, image_shape=(32, 32, 3)) -> Any:
    """Parameters of ``model`` (a supernet needs any valid cell at init: all ops are built)."""
    images = jnp.zeros((2, *image_shape), jnp.float32)
    ops = None if model.fixed_ops is not None else jnp.zeros(NUM_EDGES, jnp.int32)
    return layers.init_params(key, model, images, ops)


def subnet_params(params: Any, ops: Sequence[int]) -> Any:
    """The supernet weights a cell ``ops`` uses: the standalone network's params pytree."""
    ops = [int(o) for o in np.asarray(ops)]
    if len(ops) != NUM_EDGES or not all(0 <= o < NUM_OPS for o in ops):
        raise ValueError(f"ops must be {NUM_EDGES} op indices in [0, {NUM_OPS}), got {ops}")

    def select(tree):
        out = {}
        for name, sub in tree.items():
            if name.startswith("edges_") and isinstance(sub, dict):
                keep = _OP_MODULE.get(ops[int(name.split("_")[1])])
                sub = {keep: sub[keep]} if keep in sub else {}
            elif isinstance(sub, dict):
                sub = select(sub)
            if not (isinstance(sub, dict) and not sub):  # Flax omits modules without weights
                out[name] = sub
        return out

    return select(dict(params))
