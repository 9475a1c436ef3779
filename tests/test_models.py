import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.weight_sharing import darts_network as dn
from jaxnas.weight_sharing import layers
from jaxnas.weight_sharing import nb201_network as nbn

_NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("size,kernel,stride,dilation,pad", [(9, 3, 2, 1, 1), (7, 5, 2, 2, 4)])
def test_convolutions_match_xla_and_autodiff(size, kernel, stride, dilation, pad):
    """layers.conv2d (custom VJP) and depthwise_conv2d (slices, dense) against XLA's convolutions."""
    args = ((stride, stride), (dilation, dilation), ((pad, pad), (pad, pad)))

    def ref(x, k):
        return jax.lax.conv_general_dilated(x, k, args[0], args[2], rhs_dilation=args[1], dimension_numbers=_NHWC)

    def ref_dw(x, k):
        return jax.lax.conv_general_dilated(x, k[:, :, None, :], args[0], args[2], rhs_dilation=args[1],
                                            dimension_numbers=_NHWC, feature_group_count=x.shape[-1])

    @jax.jit
    def compare(x, k, kd):
        out = []
        for mine, theirs, kernel_arg in [(layers.conv2d, ref, k), (layers.depthwise_conv2d, ref_dw, kd),
                                         (layers.depthwise_conv2d_dense, ref_dw, kd)]:
            y, vjp = jax.vjp(lambda x, k: mine(x, k, *args), x, kernel_arg)
            y_ref, vjp_ref = jax.vjp(theirs, x, kernel_arg)
            out.append(((y, *vjp(y_ref)), (y_ref, *vjp_ref(y_ref))))
        return out

    x = jax.random.normal(jax.random.key(0), (2, size, size, 4))
    k = jax.random.normal(jax.random.key(1), (kernel, kernel, 4, 5))
    kd = jax.random.normal(jax.random.key(2), (kernel, kernel, 4))
    for got, want in compare(x, k, kd):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-3)


# --------------------------------------------------------------------------- NB201


@pytest.fixture(scope="module")
def nb201():
    model = nbn.supernet(channels=4, cells_per_stage=1)
    params = nbn.init(jax.random.key(0), model)
    images = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
    return model, params, images, jax.jit(model.apply)


def test_init_params_is_keyed_and_scaled(nb201):
    model, params, _, _ = nb201
    again = nbn.init(jax.random.key(0), model)
    other = nbn.init(jax.random.key(1), model)
    chex.assert_trees_all_equal(params, again)
    assert not np.array_equal(params["params"]["stem_conv"]["kernel"], other["params"]["stem_conv"]["kernel"])
    kernel = np.asarray(params["params"]["cells_2"]["edges_0"]["nor_conv_3x3"]["conv"]["kernel"])  # 3x3, 16 -> 16
    assert abs(kernel.std() / np.sqrt(2 / (9 * 16)) - 1) < 0.1  # He normal
    np.testing.assert_array_equal(params["params"]["stem_bn"]["scale"], 1.0)


@pytest.mark.parametrize("ops", [[3, 3, 1, 2, 4, 3], [0, 1, 2, 0, 4, 2]])
def test_nb201_subnetwork_equals_standalone_network(nb201, ops):
    model, params, images, apply = nb201
    sub = nbn.subnet_params(params["params"], ops)
    standalone = nbn.standalone(ops, channels=4, cells_per_stage=1)
    fresh = nbn.init(jax.random.key(5), standalone)
    # Same parameter structure and count as the architecture built on its own ...
    assert jax.tree_util.tree_structure(fresh["params"]) == jax.tree_util.tree_structure(sub)
    chex.assert_trees_all_equal_shapes(fresh["params"], sub)
    assert layers.count_params(sub) == layers.count_params(fresh) < layers.count_params(params)
    # ... and, loaded with the supernet's weights, the same function.
    np.testing.assert_allclose(apply(params, images, jnp.asarray(ops)), standalone.apply({"params": sub}, images),
                               rtol=1e-5, atol=1e-5)


def _poison(tree, op_name):
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: jnp.full_like(leaf, jnp.nan) if op_name in jax.tree_util.keystr(path) else leaf, tree)


def test_nb201_runs_only_the_chosen_ops():
    """The weights of an op no edge chose are NaN: any pass that computed that op, even
    weighted by 0, would be NaN (checked on a cell: it ends in a sum, which nothing can
    mask, unlike a ReLU downstream)."""
    cell = nbn.NB201SearchCell(channels=4)
    x = jax.random.normal(jax.random.key(2), (8, 8, 8, 4))
    params = layers.init_params(jax.random.key(0), cell, x, jnp.zeros(6, jnp.int32))
    ops = jnp.array([3, 1, 3, 0, 4, 1])  # no nor_conv_1x1 anywhere
    poisoned = _poison(params, "nor_conv_1x1")
    value, grads = jax.jit(jax.value_and_grad(lambda p, o: jnp.sum(cell.apply(p, x, o))))(poisoned, ops)
    assert np.isfinite(value)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads["params"]["edges_0"]["nor_conv_3x3"]))
    # The DARTS-style relaxation computes every op, so there the poison shows.
    mixed = jax.jit(lambda p, w: cell.apply(p, x, w, method="mixed"))(poisoned, jnp.full((6, 5), 0.2))
    assert np.isnan(mixed).all()


def test_nb201_edge_batch_norm_is_not_affine_by_default(nb201):
    """NB201's search supernet: no learnable scale/bias in the ops' BN (the stem's BN keeps them)."""
    _, params, _, _ = nb201
    edge = params["params"]["cells_0"]["edges_0"]["nor_conv_3x3"]
    assert "bn" not in edge and set(edge) == {"conv"}
    assert set(params["params"]["stem_bn"]) == {"scale", "bias"}
    affine = nbn.supernet(channels=4, cells_per_stage=1, edge_affine=True)
    shapes = jax.eval_shape(affine.init, jax.random.key(0), jnp.zeros((2, 32, 32, 3)), jnp.zeros(6, jnp.int32))
    assert set(shapes["params"]["cells_0"]["edges_0"]["nor_conv_3x3"]["bn"]) == {"scale", "bias"}


def test_nb201_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="fixed_ops"):
        nbn.init(jax.random.key(0), nbn.standalone([3, 3, 3, 3, 3, 7], channels=4, cells_per_stage=1))
    with pytest.raises(ValueError, match="ops"):
        nbn.subnet_params({}, [1, 2, 3])


# --------------------------------------------------------------------------- DARTS

_ARCH = dn.DartsArch(
    normal_inputs=jnp.array([0, 2, 5, 9]), normal_ops=jnp.array([[3, 4], [4, 6], [0, 1], [2, 3]]),
    reduce_inputs=jnp.array([0, 1, 3, 7]), reduce_ops=jnp.array([[2, 4], [2, 6], [0, 1], [2, 3]]))


def test_darts_genotype_and_edge_codes():
    genotype = dn.genotype(_ARCH)
    assert genotype["normal"][:2] == [("sep_conv_3x3", 0), ("sep_conv_5x5", 1)]
    assert genotype["normal"][6:] == [("skip_connect", 3), ("sep_conv_3x3", 4)]  # pair 9 of node 3 = (3, 4)
    codes = np.asarray(jax.jit(dn.edge_ops)(_ARCH.normal_inputs, _ARCH.normal_ops))
    assert (codes != dn.NUM_OPS).sum() == 8  # 2 inputs per node
    assert codes[0] == 3 and codes[1] == 4 and codes[9 + 3] == 2 and codes[9 + 4] == 3
    with pytest.raises(ValueError, match="node 0"):
        dn.check_arch(_ARCH.replace(normal_inputs=jnp.array([1, 0, 0, 0])))
    with pytest.raises(ValueError, match="ops must be"):
        dn.check_arch(_ARCH.replace(reduce_ops=jnp.full((4, 2), 7)))


def test_darts_sampled_network_has_the_standalone_parameter_count():
    """Shapes only (eval_shape), so it is fast: the subnet's weights are the standalone's."""
    images = jnp.zeros((2, 16, 16, 3))
    supernet = dn.supernet(channels=4, num_layers=3)
    standalone = dn.standalone(_ARCH, channels=4, num_layers=3)
    super_shapes = jax.eval_shape(supernet.init, jax.random.key(0), images, dn.example_arch())["params"]
    alone_shapes = jax.eval_shape(standalone.init, jax.random.key(0), images)["params"]
    sub = dn.subnet_params(super_shapes, _ARCH, num_layers=3)
    assert jax.tree_util.tree_structure(sub) == jax.tree_util.tree_structure(alone_shapes)
    chex.assert_trees_all_equal_shapes(sub, alone_shapes)
    assert layers.count_params(sub) == layers.count_params(alone_shapes) < layers.count_params(super_shapes)


@pytest.mark.slow
def test_darts_subnetwork_equals_standalone_and_runs_only_chosen_ops():
    supernet = dn.supernet(channels=4, num_layers=3)
    params = dn.init(jax.random.key(0), supernet)
    images = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
    standalone = dn.standalone(_ARCH, channels=4, num_layers=3)
    sub = dn.subnet_params(params["params"], _ARCH, num_layers=3)
    apply = jax.jit(supernet.apply)
    np.testing.assert_allclose(apply(params, images, _ARCH), standalone.apply({"params": sub}, images),
                               rtol=1e-5, atol=1e-5)
    # dil_conv_3x3 is used nowhere in _ARCH: NaN weights there must not reach a cell's output.
    cell = dn.DartsCell(channels=4, reduction=False, reduction_prev=False)
    s0 = jax.random.normal(jax.random.key(3), (4, 8, 8, 4))
    cell_params = layers.init_params(jax.random.key(0), cell, s0, s0, _ARCH.normal_inputs, _ARCH.normal_ops)
    out = jax.jit(cell.apply)(_poison(cell_params, "dil_conv_3x3"), s0, s0, _ARCH.normal_inputs, _ARCH.normal_ops)
    assert np.isfinite(out).all()
