"""Building blocks shared by the cell networks (NB201, DARTS): NHWC, float32.

Batch normalisation always uses the statistics of the batch it normalises and keeps no
running averages, as in the NB201/DARTS search supernets (``track_running_stats=False``).
Every network is then a pure function of one ``params`` pytree, which is what weight
sharing across sampled architectures, ``lax.map`` over samples and orbax checkpoints
want. Evaluate on batches of a few hundred images so the statistics are stable.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

Params = Any


class BatchNorm(nn.Module):
    """Normalises each channel by the batch's mean and variance (over N, H, W)."""

    affine: bool = True
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x):
        mean = jnp.mean(x, axis=(0, 1, 2))
        var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        if self.affine:
            scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
            bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
            y = y * scale + bias
        return y


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


_NHWC = ("NHWC", "HWIO", "NHWC")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv2d(x, kernel, stride=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0))):
    """Dense NHWC x HWIO convolution whose backward pass uses only NHWC/HWIO convolutions.

    Why not plain ``lax.conv_general_dilated``: its autodiff transposes are convolutions
    with permuted dimension labels, which XLA:CPU canonicalises (and sends to its fast
    kernels) only in the entry computation. Inside ``lax.switch``/``scan`` bodies, where
    every supernet pass lives, they fall back to a naive loop, about 50x slower. The
    gradients here are the same convolutions written on explicitly transposed operands.
    """
    return jax.lax.conv_general_dilated(x, kernel, stride, padding, rhs_dilation=dilation,
                                        dimension_numbers=_NHWC)


def _conv2d_fwd(x, kernel, stride, dilation, padding):
    return conv2d(x, kernel, stride, dilation, padding), (x, kernel)


def _conv2d_bwd(stride, dilation, padding, residuals, g):
    x, kernel = residuals
    size, ksize = x.shape[1:3], kernel.shape[:2]
    # dx: correlate the stride-dilated output gradient with the flipped, io-swapped kernel.
    dx_pad = []
    for ax in range(2):
        low = (ksize[ax] - 1) * dilation[ax] - padding[ax][0]
        high = size[ax] - (g.shape[1 + ax] - 1) * stride[ax] - 1 + padding[ax][0]
        dx_pad.append((low, high))
    flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    dx = jax.lax.conv_general_dilated(g, flipped, (1, 1), dx_pad, lhs_dilation=stride,
                                      rhs_dilation=dilation, dimension_numbers=_NHWC)
    # dk[t] = sum_o x_pad[o*stride + t*dilation] g[o]: a conv over space with the batch as
    # the contracted feature axis (x as [Cin, H, W, B], g as [Ho, Wo, B, Cout]).
    dk = jax.lax.conv_general_dilated(
        jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(g, (1, 2, 0, 3)), dilation, padding,
        rhs_dilation=stride, dimension_numbers=_NHWC)
    dk = jnp.transpose(dk[:, : ksize[0], : ksize[1], :], (1, 2, 0, 3))
    return dx.astype(x.dtype), dk.astype(kernel.dtype)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


@functools.partial(jax.checkpoint, static_argnums=(2, 3, 4))
def depthwise_conv2d(x, kernel, stride=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0))):
    """Depthwise conv (kernel [kh, kw, C]) as a sum of shifted, strided slices.

    XLA:CPU runs grouped convolutions (feature_group_count=C) about 20x slower than this
    elementwise form. ``jax.checkpoint`` keeps only x as the residual (the backward
    recomputes the slices) instead of one saved slice per tap.
    """
    xp = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    kh, kw = kernel.shape[:2]
    out_h = (xp.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (xp.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = jax.lax.slice(
                xp,
                (0, i * dilation[0], j * dilation[1], 0),
                (xp.shape[0], i * dilation[0] + (out_h - 1) * stride[0] + 1,
                 j * dilation[1] + (out_w - 1) * stride[1] + 1, xp.shape[3]),
                (1, stride[0], stride[1], 1),
            )
            term = tap * kernel[i, j]
            out = term if out is None else out + term
    return out


def depthwise_conv2d_dense(x, kernel, stride=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0))):
    """Depthwise conv (kernel [kh, kw, C]) as ONE dense conv with a diagonal [kh, kw, C, C] kernel.

    Same function as :func:`depthwise_conv2d` (the off-diagonal terms are exact zeros), C
    times the multiply-adds, but a single :func:`conv2d` instead of kh*kw slices: a DARTS
    edge's train step compiles ~3x faster on XLA:CPU (34 s -> 12 s per stride-1 edge,
    C=4; the whole C=4, 3-cell DARTS PARSEC step 298 s -> 151 s) and runs ~1.5x slower
    there (the cost grows with C). Worth it for small-channel searches, where
    compilation dominates.
    """
    eye = jnp.eye(x.shape[-1], dtype=kernel.dtype)
    return conv2d(x, kernel[:, :, :, None] * eye[None, None], stride, dilation, padding)


DEPTHWISE_IMPLS = {"slices": depthwise_conv2d, "dense": depthwise_conv2d_dense}


# Name of every convolution's output (``checkpoint_name``; an identity outside ``jax.checkpoint``).
CONV_OUTPUT = "conv_output"

# Rematerialisation policy for a supernet edge's op: keep the convolutions' outputs and the
# op's inputs, recompute everything else (ReLU, batch norm, pooling) in the backward pass.
SAVE_CONV_OUTPUTS = jax.checkpoint_policies.save_only_these_names(CONV_OUTPUT)


class Conv(nn.Module):
    """Bias-free conv with PyTorch-style symmetric padding dilation*(kernel-1)//2.

    ``depthwise=True`` gives one kernel per channel (kernel [k, k, C]), computed by
    ``DEPTHWISE_IMPLS[depthwise_impl]`` (the same function; different compile/run costs).
    """

    features: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    depthwise: bool = False
    depthwise_impl: str = "slices"

    @nn.compact
    def __call__(self, x):
        pad = self.dilation * (self.kernel - 1) // 2
        args = (_pair(self.stride), _pair(self.dilation), ((pad, pad), (pad, pad)))
        init = CONV_INIT
        if self.depthwise:
            if self.features != x.shape[-1]:
                raise ValueError(f"a depthwise conv keeps the channels: {x.shape[-1]} -> {self.features}")
            kernel = self.param("kernel", init, (self.kernel, self.kernel, 1, x.shape[-1]))
            return checkpoint_name(DEPTHWISE_IMPLS[self.depthwise_impl](x, kernel[:, :, 0, :], *args), CONV_OUTPUT)
        kernel = self.param("kernel", init, (self.kernel, self.kernel, x.shape[-1], self.features))
        return checkpoint_name(conv2d(x, kernel, *args), CONV_OUTPUT)


def conv(features: int, kernel: int, stride: int = 1, dilation: int = 1, name=None) -> Conv:
    return Conv(features, kernel, stride, dilation, name=name)


class ReLUConvBN(nn.Module):
    """ReLU -> conv -> BN (the NB201 'nor_conv' and the DARTS preprocessing block)."""

    features: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    affine: bool = True

    @nn.compact
    def __call__(self, x):
        x = conv(self.features, self.kernel, self.stride, self.dilation, name="conv")(nn.relu(x))
        return BatchNorm(self.affine, name="bn")(x)


def avg_pool_3x3(x, stride: int = 1):
    """3x3 average pool, padding 1, padded cells not counted (count_include_pad=False)."""
    return nn.avg_pool(x, (3, 3), (stride, stride), ((1, 1), (1, 1)), count_include_pad=False)


def max_pool_3x3(x, stride: int = 1):
    return nn.max_pool(x, (3, 3), (stride, stride), ((1, 1), (1, 1)))


def switch_or_call(index: Optional[jax.Array], fixed: Optional[int], module: nn.Module,
                   branches: Sequence[Callable], *operands, remat_policy: Optional[Callable] = None):
    """Runs branch ``fixed`` (a standalone network) or ``branches[index]`` (a supernet).

    In the supernet every branch's variables are created at init (all branches are run
    once), and at apply time ``nn.switch`` (``lax.switch``) executes only the selected
    branch, so a forward/backward pass costs the chosen ops alone. ``index`` must be an
    unbatched scalar: under ``jax.vmap`` a batched index becomes a select that runs
    every branch, so different architectures are evaluated with ``lax.map``.

    ``remat_policy`` (supernet only): wrap each branch in ``nn.remat`` with this
    ``jax.checkpoint`` policy (e.g. :data:`SAVE_CONV_OUTPUTS`). Why: differentiating a
    ``lax.switch`` makes every residual an output of the forward conditional, i.e. a
    materialised buffer (an NB201 ReLU-conv-BN edge: 5 float and 1 bool activation-sized
    tensors, slots shared by type between branches), which made a PARSEC step heavier
    than the same architecture built standalone. With the policy a branch's residuals are
    its inputs plus the tensors the policy names; the rest is recomputed inside the
    backward branch, for the chosen op only. Values and gradients are unchanged (the same
    operations, recomputed). Wrapping the whole switch in ``nn.remat`` instead did not
    lower XLA:CPU's peak (the recomputation then need not wait for the backward pass).
    """
    if fixed is not None:
        return branches[fixed](module, *operands)
    if index is None:
        raise ValueError("a supernet needs the architecture (op indices) as an argument")
    if module.is_initializing():
        # Create every candidate op's variables; the value returned at init is unused.
        return [branch(module, *operands) for branch in branches][0]
    if remat_policy is not None:
        branches = [nn.remat(branch, policy=remat_policy) for branch in branches]
    return nn.switch(index, branches, module, *operands)


# Kernel initialisers, declared on the modules and reproduced by init_params:
# He normal (std sqrt(2 / fan_in)) for convolutions, LeCun normal for the classifier.
CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
DENSE_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "normal")


def init_params(key: jax.Array, model: nn.Module, *args, **kwargs) -> Params:
    """Variables of ``model`` (as ``model.init``), drawn with ONE normal draw from ``key``.

    Shapes come from ``jax.eval_shape(model.init)``; each ``kernel`` gets a slice of the
    draw scaled as its declared initialiser (CONV_INIT for 4-d conv kernels, DENSE_INIT
    for 2-d dense kernels), ``scale`` ones, ``bias`` zeros. Why: XLA:CPU compiles each
    random draw separately (about 0.3 s each), and a supernet has hundreds of kernels,
    so plain ``model.init`` took minutes to compile.
    """
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), *args, **kwargs))
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    kernels = [leaf.size for path, leaf in paths_leaves if _leaf_name(path) == "kernel"]

    # One jitted draw; the slicing runs on the host (compiling ~500 slices took 30 s+).
    noise = np.asarray(_standard_normal(key, max(sum(kernels), 1)))
    leaves, offset = [], 0
    for path, leaf in paths_leaves:
        name = _leaf_name(path)
        if name == "kernel":
            if leaf.ndim not in (2, 4):
                raise ValueError(f"init_params: unexpected kernel rank at {jax.tree_util.keystr(path)}")
            fan_in = int(np.prod(leaf.shape[:-1]))
            gain = 2.0 if leaf.ndim == 4 else 1.0
            chunk = noise[offset: offset + leaf.size].reshape(leaf.shape) * np.sqrt(gain / fan_in)
            leaves.append(jnp.asarray(chunk, leaf.dtype))
            offset += leaf.size
        elif name in ("scale", "bias"):
            leaves.append(jnp.asarray(np.full(leaf.shape, 1.0 if name == "scale" else 0.0), leaf.dtype))
        else:
            raise ValueError(f"init_params: no rule for parameter {jax.tree_util.keystr(path)}")
    return jax.tree_util.tree_unflatten(treedef, leaves)


@functools.partial(jax.jit, static_argnums=1)
def _standard_normal(key, size: int):
    return jax.random.normal(key, (size,), jnp.float32)


def _leaf_name(path) -> str:
    last = path[-1]
    return str(getattr(last, "key", getattr(last, "name", last)))


def count_params(params: Params) -> int:
    return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))
