"""Semi-supervised assessor of neural architectures (Tang et al., CVPR 2020).

Three stages, each a pure function:

1. **Architecture auto-encoder** (no labels). The encoder is the project's cell-graph
   GCN (:class:`jaxnas.predictors.gcn.CellGraphEncoder`, both edge directions) over the
   padded ``jraph.GraphsTuple`` of one-hot op nodes; its node embeddings, read out in
   node order (cells have a canonical node order), go through a linear layer to a
   ``ae_latent``-dim architecture embedding. The decoder (an MLP) reconstructs the
   adjacency matrix (sigmoid, binary cross-entropy) and every node's op, "padding"
   included so the node count is reconstructed too (softmax, cross-entropy). It is
   trained once per space on ALL architectures of the space's enumeration (NB101:
   423,624 cells, NB201: 15,625, NB-Graph: 26,206) and its embeddings of every row are
   cached in ``$JAXNAS_CACHE/assessor/`` keyed by space and auto-encoder settings.

2. **Relation graph** over the assessor's pool: every architecture of the search
   domain (the benchmark's cells: all of NB201/NB-Graph, nb101_subset's 30,001), or
   ``max_pool`` random cells when the domain is larger (full NB101). Labelled and
   unlabelled architectures are nodes; its node features are the standardised
   embeddings followed by the node latents' sum over nodes (weighted by
   ``readout_weight``, :func:`architecture_features`); edges connect each node to its
   ``knn`` nearest neighbours in that feature space, weighted by a Gaussian kernel
   ``exp(-d^2 / sigma^2)`` with ``sigma^2 = bandwidth_scale * mean kNN d^2``; edges
   whose weight is below ``min_weight`` are dropped (the paper's threshold). The graph
   is made symmetric (union of both directions), without self-loops and without
   duplicate edges. kNN is exact, blocked brute force (``lax.map`` over query blocks,
   a matmul and ``lax.top_k`` each), jitted: O(N^2 D) time, O(block * N) memory.

   Paper vs. choice: Tang et al. connect architectures whose embedding distance is
   small, weighting edges by a kernel of the distance and cutting them at a threshold
   (a thresholded Gaussian kernel). A pure threshold gives unbounded, wildly varying
   degrees (near-duplicate cells form dense clusters), which at 100k nodes is neither
   bounded in memory nor well conditioned; kNN bounds the degree, keeps static shapes
   and the kernel weights keep the paper's similarity weighting, with the threshold
   available as ``min_weight`` (0 = off by default).

3. **GCN on the relation graph** (Kipf & Welling, jraph senders/receivers, edge
   weights, symmetric normalisation with self-loops, ``A_hat = D^-1/2 (W + I) D^-1/2``),
   input = the embeddings, trained transductively with MSE on the labelled nodes'
   targets (by default the normal scores of their accuracies' ranks, ``targets="rank"``;
   ``"standardise"`` = standardised accuracies) while every unlabelled node is present; it predicts every
   node. Layer l computes ``A_hat h W_l + b_l``; the first propagation ``A_hat X`` only
   depends on the frozen embeddings, so it is computed once per fit.

Deviation: by default the auto-encoder is pretrained and frozen (two-stage). The paper's
joint training (encoder fine-tuned with the GCN, loss = MSE + ``joint_weight`` *
reconstruction) is ``joint=True``: it re-embeds the whole pool every step (~5x the cost on
NB201) for no measured gain.

``fit(key, labelled, labels, unlabelled)``: the unlabelled set is the pool (the whole
search domain, as the paper samples unlabelled architectures freely from the space);
the ``unlabelled`` argument adds nothing beyond it. When the pool does not cover the
domain, labelled cells outside it are attached as extra nodes (symmetric kNN edges into
the pool) and ``predict`` attaches query cells outside it as receive-only nodes, so
their scores come from the same trained GCN; when it does cover the domain, cells
outside it (invalid, not in the benchmark) are scored NaN.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, NamedTuple, Optional

import flax.traverse_util
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from absl import logging

from jaxnas import cache, chunking, presets, training
from jaxnas.predictors import gcn
from jaxnas.config import Config, field
from jaxnas.models.autoencoder import ArchAutoEncoder, reconstruction_loss
from jaxnas.models.relation_gcn import NormalisedEdges, RelationGCN, edge_tables, normalise, propagate_hops
from jaxnas.predictors.base import Predictor, PredictorNetwork, fit_network
from jaxnas.spaces import base as spaces_base

AE_CACHE_VERSION = 3  # bump when the auto-encoder, its training or the cached fields change
PARAM_PREFIX = "param:"


# ============================================================================ config
@dataclasses.dataclass(frozen=True)
class AssessorConfig(Config):
    label = "assessor"

    # Auto-encoder (trained once per space without labels; cached).
    ae_layers: int = field(2, "Auto-encoder: graph-convolution layers.", lower=1)
    ae_hidden: int = field(64, "Auto-encoder: units per layer.", lower=1)
    ae_latent: int = field(8, "Auto-encoder: latent units per node (the architecture embedding has "
                              "max_nodes * ae_latent dimensions).", lower=1)
    ae_epochs: int = field(30, "Auto-encoder: training epochs over the space's cells (unlabelled).", lower=1)
    ae_batch_size: int = field(256, "Auto-encoder: minibatch size.", lower=1)
    ae_learning_rate: float = field(1e-3, "Auto-encoder: Adam learning rate.", above=0.0)
    ae_seed: int = field(0, "Auto-encoder: initialisation and shuffling seed.")
    # Relation graph.
    knn: int = field(10, "Relation graph: neighbours per architecture (k of the kNN graph).", lower=1)
    bandwidth_scale: float = field(1.0, "Relation graph: Gaussian kernel width sigma^2 = bandwidth_scale * the "
                                        "mean squared kNN distance.", above=0.0)
    min_weight: float = field(0.0, "Relation graph: edges with a kernel weight below this are dropped "
                                   "(0 = keep all).", lower=0.0, below=1.0)
    # With few labels the regressor cannot learn one direction (e.g. "more 3x3 convs")
    # separately at every node position of the concatenation; the order-free sum gives it once.
    readout_weight: float = field(2.0, "Architecture features = the node latents concatenated plus their sum "
                                       "over nodes (order-free), the sum's standardised columns scaled by this "
                                       "weight (0 = concatenation only).", lower=0.0)
    max_pool: int = field(100_000, "Relation graph nodes: the whole search domain up to this many, else this "
                                   "many random cells.", lower=1)
    pool_seed: int = field(0, "Seed of the random pool when the domain exceeds max_pool.")
    # Kipf & Welling's 2 layers x 64 at lr 1e-2 overfit the few labels; 3 layers (3 hops of
    # the relation graph) with root weights, dropout 0.5 and lr 1e-3 do not.
    gcn_layers: int = field(3, "Transductive GCN on the relation graph: layers.", lower=1)
    gcn_hidden: int = field(64, "Transductive GCN: units per layer.", lower=1)
    input_hops: int = field(1, "Transductive GCN: propagations of the input embeddings (1 = Kipf).", lower=1)
    root_weight: bool = field(True, "Transductive GCN: add each node's own features in every layer.")
    dropout: float = field(0.5, "Transductive GCN: dropout rate.", lower=0.0, below=1.0)
    learning_rate: float = field(1e-3, "Transductive GCN: Adam learning rate.", above=0.0)
    weight_decay: float = field(5e-4, "Transductive GCN: L2 regularisation.", lower=0.0)
    steps: int = field(300, "Transductive GCN: full-graph training steps.", lower=1)
    # The relation graph stays the one built from the pretrained embeddings.
    joint: bool = field(False, "Joint training (the paper's end-to-end loss): the auto-encoder's encoder is "
                               "fine-tuned with the GCN, every pool node re-encoded each step; loss = MSE on the "
                               "labelled nodes + joint_weight * mean reconstruction loss over the pool.")
    joint_weight: float = field(1.0, "Joint training: weight of the reconstruction loss.", lower=0.0)
    encoder_learning_rate: float = field(1e-4, "Joint training: the encoder's learning rate.", above=0.0)
    # Standardised accuracies are dominated by the few collapsed cells (~10 % on NB201):
    # the GCN fits them and not the order of the good cells.
    targets: str = field("rank", "Regression targets: 'rank' (normal scores of the labels' ranks) or "
                                 "'standardise' ((y - mean) / std, the paper's).", choices=training.TARGETS)

    @classmethod
    def for_benchmark(cls, benchmark_name):
        # Similar numbers of auto-encoder steps per space: NB101's 423,624 cells need
        # far fewer passes than NB201's 15,625.
        return cls(ae_epochs=_AE_EPOCHS.get(presets.space_family(benchmark_name), cls.ae_epochs))

    @classmethod
    def paper(cls, benchmark_name):
        """Tang et al.'s method where this module has it (:data:`PAPER`), the project's
        values elsewhere (the auto-encoder's epochs per space as in the default)."""
        return dataclasses.replace(cls.for_benchmark(benchmark_name), **PAPER)

    def cross_check(self):
        if self.knn >= self.max_pool:
            raise ValueError(f"assessor knn ({self.knn}) must be smaller than max_pool ({self.max_pool})")

    def autoencoder_fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name.startswith("ae_")}


_AE_EPOCHS = {"nb101": 3, "nbgraph": 20}

# The paper's choices that this module reproduces: the end-to-end loss (the encoder is
# fine-tuned with the relation GCN, MSE + reconstruction), regression on the labels
# themselves (standardised) and the auto-encoder's embedding alone as node features.
# Not recoverable here, so kept at the project's values: the relation GCN's depth, width,
# learning rate and dropout, and the kernel's threshold (kNN + Gaussian weights instead).
PAPER = dict(joint=True, targets="standardise", readout_weight=0.0)


# ============================================================================ auto-encoder
def make_autoencoder(space: spaces_base.SearchSpace, config: AssessorConfig) -> ArchAutoEncoder:
    return ArchAutoEncoder(space.max_nodes, space.num_node_types, config.ae_hidden, config.ae_layers, config.ae_latent)


def autoencoder_network(space: spaces_base.SearchSpace, config: AssessorConfig) -> PredictorNetwork:
    """The auto-encoder stage as a network over per-architecture CellGraph arrays. It
    needs no labels (each cell is its own target, ``targets`` is ignored): ``apply`` is
    each cell's reconstruction loss, ``loss`` their weighted mean; Adam."""
    model = make_autoencoder(space, config)

    def init(key, graphs):
        return model.init(key, gcn.batch_graphs(space, graphs))

    def apply(params, graphs):
        adj_logits, op_logits = model.apply(params, gcn.batch_graphs(space, graphs))
        return reconstruction_loss(adj_logits, op_logits, graphs)[0]

    def loss(params, graphs, targets, weights, key):
        del targets, key  # unsupervised; no dropout
        return training.weighted_mean(apply(params, graphs), weights)

    return PredictorNetwork(init, apply, loss, optax.adam(config.ae_learning_rate))


def train_autoencoder(key: jax.Array, space: spaces_base.SearchSpace, graphs: spaces_base.CellGraph,
                      config: AssessorConfig) -> tuple[Any, jax.Array]:
    """Trains the auto-encoder on ``graphs`` (per-architecture CellGraph arrays) without
    labels; returns (params, mean loss per epoch). Jittable (space/config static)."""
    num_cells = jax.tree_util.tree_leaves(graphs)[0].shape[0]
    return fit_network(key, autoencoder_network(space, config), graphs, jnp.zeros((num_cells,), jnp.float32),
                       config.ae_batch_size, config.ae_epochs)


def encode_and_reconstruct(model: "ArchAutoEncoder", space: spaces_base.SearchSpace, params,
                           graphs: spaces_base.CellGraph) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(embeddings float[B, latent], reconstruction loss float[B], exact float[B]) of a
    batch of per-architecture CellGraph arrays."""
    z = model.apply(params, gcn.batch_graphs(space, graphs), method=ArchAutoEncoder.encode)
    adj_logits, op_logits = model.apply(params, z, method=ArchAutoEncoder.decode)
    loss, exact = reconstruction_loss(adj_logits, op_logits, graphs)
    return z, loss, exact


def encode_all(space: spaces_base.SearchSpace, config: AssessorConfig, params, graphs: spaces_base.CellGraph,
               chunk: int = 8192) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(embeddings float[M, latent], reconstruction loss float[M], exact float[M]) of
    every architecture in ``graphs``, ``chunk`` at a time."""
    model = make_autoencoder(space, config)
    return chunking.map_chunks(lambda batch: encode_and_reconstruct(model, space, params, batch), graphs, chunk)


def _domain_space(space: spaces_base.SearchSpace) -> spaces_base.SearchSpace:
    """The full space behind a RestrictedSpace: the auto-encoder learns the whole space."""
    return getattr(space, "inner", space)


def _autoencoder_cache(space: spaces_base.SearchSpace, config: AssessorConfig) -> Optional[cache.Entry]:
    settings = {"rows": int(space.num_architectures), "types": int(space.num_node_types),
                "nodes": int(space.max_nodes), **config.autoencoder_fields()}
    return cache.entry(f"autoencoder_{space.name}", AE_CACHE_VERSION, settings, subfolder="assessor")


def _is_autoencoder(space: spaces_base.SearchSpace, config: AssessorConfig, arrays) -> bool:
    """Whether cached arrays hold every stored field and this space's embeddings."""
    shape = (space.num_architectures, space.max_nodes * config.ae_latent)
    return (all(k in arrays for k in ("embeddings", "epoch_losses", "final_loss", "exact_fraction"))
            and arrays["embeddings"].shape == shape)


def _train_and_encode(space: spaces_base.SearchSpace, config: AssessorConfig) -> dict:
    """Trains the auto-encoder on every cell of ``space`` and encodes them all (the cached
    arrays of :func:`pretrained_autoencoder`)."""
    start = time.perf_counter()
    graphs = jax.jit(lambda: gcn.cell_graphs(space, space.all_architectures()))()
    params, losses = jax.jit(functools.partial(train_autoencoder, space=space, config=config))(
        jax.random.key(config.ae_seed), graphs=graphs)
    embeddings, loss, exact = jax.jit(functools.partial(encode_all, space, config))(params, graphs)
    result = {
        "embeddings": np.asarray(embeddings, np.float32),
        "epoch_losses": np.asarray(losses, np.float32),
        "final_loss": np.asarray(loss.mean(), np.float32),
        "exact_fraction": np.asarray(exact.mean(), np.float32),
        "train_seconds": np.asarray(time.perf_counter() - start, np.float32),
        # The trained auto-encoder itself (joint training fine-tunes it).
        **{PARAM_PREFIX + name: np.asarray(value) for name, value in
           flax.traverse_util.flatten_dict(jax.device_get(params), sep="/").items()},
    }
    logging.info("assessor auto-encoder for %s: %d cells, loss %.3f -> %.3f, exact reconstruction %.3f, %.1fs",
                 space.name, space.num_architectures, float(losses[0]), float(losses[-1]),
                 float(result["exact_fraction"]), float(result["train_seconds"]))
    return result


def load_or_train_autoencoder(space: spaces_base.SearchSpace, config: AssessorConfig) -> tuple[dict, bool]:
    """(the auto-encoder's arrays for ``space``, whether they came from the disk cache):
    read from ``$JAXNAS_CACHE/assessor/autoencoder_<space>_<digest>.npz`` (keyed by the
    space's sizes, the auto-encoder fields and :data:`AE_CACHE_VERSION`), else trained
    and saved there. ``space`` is the full space (see :func:`pretrained_autoencoder`)."""
    return cache.load_or_build(_autoencoder_cache(space, config), functools.partial(_train_and_encode, space, config),
                               valid=functools.partial(_is_autoencoder, space, config))


@functools.lru_cache(maxsize=8)
def _pretrained(space: spaces_base.SearchSpace, ae_key: tuple) -> dict:
    return load_or_train_autoencoder(space, AssessorConfig(**dict(ae_key)))[0]


def pretrained_autoencoder(space: spaces_base.SearchSpace, config: AssessorConfig) -> dict:
    """The auto-encoder's results for ``space`` (trained on first use, then cached):
    ``embeddings`` float32[num_architectures, ae_latent] (row = the space's index),
    ``epoch_losses``, ``final_loss``, ``exact_fraction`` (cells reconstructed exactly),
    and the auto-encoder's parameters as flat ``"param:<path>"`` arrays (see
    :func:`autoencoder_params`)."""
    space = _domain_space(space)
    return _pretrained(space, tuple(sorted(config.autoencoder_fields().items())))


def autoencoder_params(pretrained: dict) -> Any:
    """The auto-encoder's parameter tree from :func:`pretrained_autoencoder`'s result."""
    flat = {name[len(PARAM_PREFIX):]: jnp.asarray(value) for name, value in pretrained.items()
            if name.startswith(PARAM_PREFIX)}
    return flax.traverse_util.unflatten_dict(flat, sep="/")


# ============================================================================ relation graph
def architecture_features(embeddings: jax.Array, latent: int, readout_weight: float) -> jax.Array:
    """float[B, D']: the auto-encoder embeddings float[B, max_nodes * latent] followed,
    when ``readout_weight > 0``, by their node latents summed over nodes (float[B, latent])."""
    if readout_weight == 0:
        return embeddings
    summed = embeddings.reshape(embeddings.shape[0], -1, latent).sum(1)
    return jnp.concatenate([embeddings, summed], axis=1)


def feature_scale(features: jax.Array, latent: int, readout_weight: float):
    """(mean, std) that standardise :func:`architecture_features` output ``features``
    float[N, D'] to unit variance per column, the readout columns to ``readout_weight``:
    ``(features - mean) / std`` is the relation graph's node features."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    if readout_weight > 0:
        weights = np.ones(features.shape[1], np.float32)
        weights[-latent:] = readout_weight
        std = std / weights
    return mean, std


def knn_search(queries: jax.Array, database: jax.Array, k: int, exclude: Optional[jax.Array] = None,
               block: int = 256) -> tuple[jax.Array, jax.Array]:
    """Exact k nearest database rows of every query (squared Euclidean distance).

    Returns (indices int32[M, k], squared distances float32[M, k]), nearest first.
    ``exclude`` int32[M]: a database row each query must not return (its own row; -1 =
    none). Blocked brute force: ``block`` queries at a time (a matmul, then
    ``lax.top_k``), so memory is O(block * N). Jittable.
    """
    num_queries = queries.shape[0]
    num_db = database.shape[0]
    if k > num_db - (exclude is not None):
        raise ValueError(f"k={k} neighbours requested from {num_db} rows")
    exclude = jnp.full((num_queries,), -1, jnp.int32) if exclude is None else jnp.asarray(exclude, jnp.int32)
    db_sq = jnp.sum(database**2, axis=1)

    def one_block(args):
        qb, exb = args
        d2 = jnp.sum(qb**2, axis=1)[:, None] + db_sq[None, :] - 2.0 * qb @ database.T
        d2 = jnp.where(jnp.arange(num_db)[None, :] == exb[:, None], jnp.inf, d2)
        neg, idx = jax.lax.top_k(-d2, k)
        return idx.astype(jnp.int32), jnp.maximum(-neg, 0.0)

    return chunking.map_chunks(one_block, (queries, exclude), block)


def kernel_weights(sq_distances: jax.Array, sigma_sq: jax.Array, min_weight: float) -> jax.Array:
    """Thresholded Gaussian kernel: exp(-d^2 / sigma^2), 0 where below ``min_weight``."""
    w = jnp.exp(-sq_distances / sigma_sq)
    return jnp.where(w >= min_weight, w, 0.0) if min_weight > 0 else w


def _compact(senders, receivers, weights, keep, pad_node):
    """Kept edges first, sorted by (sender, receiver); dropped ones become padding edges
    (pad_node -> pad_node, weight 0). Returns (senders, receivers, weights, num_kept)."""
    s = jnp.where(keep, senders, pad_node)
    r = jnp.where(keep, receivers, pad_node)
    order = jnp.lexsort((r, s))
    return s[order], r[order], jnp.where(keep, weights, 0.0)[order], keep.sum().astype(jnp.int32)


def symmetric_knn_edges(neighbours: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Undirected edge list from directed kNN lists: each kNN pair in both directions,
    self-pairs and zero-weight pairs dropped, duplicates (mutual neighbours) kept once.

    neighbours int32[N, k], weights float32[N, k]. Returns (senders, receivers, weights)
    of static length 2 N k -- real edges first, then padding edges N -> N with weight 0 --
    and the number of real edges. Jittable.
    """
    n, k = neighbours.shape
    s0 = jnp.repeat(jnp.arange(n, dtype=jnp.int32), k)
    r0 = neighbours.reshape(-1)
    w0 = weights.reshape(-1)
    keep0 = (s0 != r0) & (w0 > 0)
    s, r, w, _ = _compact(jnp.concatenate([s0, r0]), jnp.concatenate([r0, s0]), jnp.concatenate([w0, w0]),
                          jnp.concatenate([keep0, keep0]), n)
    # After sorting, a duplicate equals its predecessor; keep the first copy only.
    duplicate = jnp.concatenate([jnp.zeros((1,), bool), (s[1:] == s[:-1]) & (r[1:] == r[:-1])])
    keep = (s < n) & ~duplicate
    s, r, w, num_real = _compact(s, r, w, keep, n)
    return s, r, w, num_real


class RelationGraph(NamedTuple):
    """The pool's relation graph as a padded jraph.GraphsTuple plus what built it.

    graph: nodes float32[N + 1, D] standardised embeddings (row N = padding node),
      edges float32[E] kernel weights, senders/receivers int32[E] (real edges first),
      n_node [N, 1], n_edge [real, padding].
    sigma_sq: the kernel bandwidth used (reused to attach new nodes).
    """

    graph: jraph.GraphsTuple
    sigma_sq: jax.Array


def build_relation_graph(features: jax.Array, k: int, bandwidth_scale: float = 1.0, min_weight: float = 0.0,
                         block: int = 256) -> RelationGraph:
    """Symmetric kNN relation graph with thresholded Gaussian weights over ``features``
    float[N, D] (jittable; ``k``/``min_weight``/``block`` static)."""
    n = features.shape[0]
    neighbours, d2 = knn_search(features, features, k, exclude=jnp.arange(n, dtype=jnp.int32), block=block)
    sigma_sq = bandwidth_scale * jnp.maximum(jnp.mean(d2), 1e-12)
    s, r, w, num_real = symmetric_knn_edges(neighbours, kernel_weights(d2, sigma_sq, min_weight))
    nodes = jnp.concatenate([features, jnp.zeros((1, features.shape[1]), features.dtype)])
    graph = jraph.GraphsTuple(nodes=nodes, edges=w, senders=s, receivers=r, globals=None,
                              n_node=jnp.array([n, 1], jnp.int32),
                              n_edge=jnp.stack([num_real, s.shape[0] - num_real]).astype(jnp.int32))
    return RelationGraph(graph=graph, sigma_sq=sigma_sq)


def trim(relation: RelationGraph) -> RelationGraph:
    """Host side: drops the padding edges and orders edges by receiver (sorted segment
    sums), so a graph built once is as small as possible for every later step."""
    g = relation.graph
    num_real = int(g.n_edge[0])
    s, r, w = (np.asarray(a)[:num_real] for a in (g.senders, g.receivers, g.edges))
    order = np.lexsort((s, r))
    graph = g._replace(senders=jnp.asarray(s[order]), receivers=jnp.asarray(r[order]), edges=jnp.asarray(w[order]),
                       n_edge=jnp.array([num_real, 0], jnp.int32))
    return RelationGraph(graph=graph, sigma_sq=relation.sigma_sq)


# ============================================================================ relation network
class RelationBatch(NamedTuple):
    """A relation graph and the nodes a batch reads: the relation GCN's inputs."""

    features: jax.Array  # float[num_nodes, D]
    propagated: jax.Array  # float[num_nodes, D]: A_hat^input_hops features
    edges: NormalisedEdges
    nodes: jax.Array  # int32[B]: the nodes scored (and, in training, labelled)


def relation_optimizer(config: AssessorConfig) -> optax.GradientTransformation:
    """Adam with L2 (coupled) on the relation GCN's parameters."""
    return optax.chain(optax.add_decayed_weights(config.weight_decay), optax.adam(config.learning_rate))


def relation_network(config: AssessorConfig) -> PredictorNetwork:
    """The assessor's relation-GCN stage (the auto-encoder's embeddings are its inputs):
    params {"gcn": ...}; scores of ``batch.nodes``; MSE on them with dropout on. ``fit``
    trains it transductively, one full-batch step per "epoch"."""
    model = RelationGCN(config.gcn_hidden, config.gcn_layers, config.root_weight, config.dropout)

    def init(key, batch):
        return {"gcn": model.init(key, batch.features, batch.propagated, batch.edges)}

    def apply(params, batch):
        return model.apply(params["gcn"], batch.features, batch.propagated, batch.edges)[batch.nodes]

    def loss(params, batch, targets, weights, key):
        scores = model.apply(params["gcn"], batch.features, batch.propagated, batch.edges, deterministic=False,
                             rngs={"dropout": key})
        return training.weighted_mean((scores[batch.nodes] - targets) ** 2, weights)

    return PredictorNetwork(init, apply, loss, relation_optimizer(config))


# ============================================================================ predictor
class AssessorState(NamedTuple):
    params: Any
    label_mean: jax.Array
    label_std: jax.Array
    node_scores: jax.Array  # float32[N + L]: prediction for every pool node and extra node
    extra_features: jax.Array  # float32[L, D]: labelled cells attached to the pool (if any)
    extra_edges: tuple  # (senders, receivers, weights) of the attachments
    losses: jax.Array  # float32[steps]: training loss per step (MSE + joint_weight * reconstruction)


class _Pool(NamedTuple):
    indices: np.ndarray  # int32[N]: space index of each pool node
    lookup: np.ndarray  # int32[num_architectures]: node of each space index, -1 if not in the pool
    covers_domain: bool  # every architecture of the search domain is a pool node


def _pool(space: spaces_base.SearchSpace, config: AssessorConfig) -> _Pool:
    n = space.num_architectures
    domain = space.search_domain()
    domain = np.arange(n, dtype=np.int32) if domain is None else domain
    covers = len(domain) <= config.max_pool
    if not covers:
        rng = np.random.default_rng(config.pool_seed)
        domain = np.sort(rng.choice(domain, config.max_pool, replace=False)).astype(np.int32)
    if len(domain) <= config.knn:
        raise ValueError(f"assessor: the pool has {len(domain)} architectures, need more than knn={config.knn}")
    lookup = np.full(n, -1, np.int32)
    lookup[domain] = np.arange(len(domain), dtype=np.int32)
    return _Pool(domain, lookup, covers)


GRAPH_FIELDS = ("knn", "bandwidth_scale", "min_weight", "readout_weight", "max_pool", "pool_seed")


def _pool_graph(space: spaces_base.SearchSpace, config: AssessorConfig):
    """(pool, standardised embedding table, relation graph, (embedding mean, std) used to
    standardise), memoised per space and the config fields they depend on (auto-encoder +
    graph fields)."""
    fields = {**config.autoencoder_fields(), **{name: getattr(config, name) for name in GRAPH_FIELDS}}
    return _pool_graph_cached(space, tuple(sorted(fields.items())))


@functools.lru_cache(maxsize=8)
def _pool_graph_cached(space: spaces_base.SearchSpace, fields: tuple):
    config = AssessorConfig(**dict(fields))
    pool = _pool(space, config)
    embeddings = np.asarray(architecture_features(pretrained_autoencoder(space, config)["embeddings"],
                                                  config.ae_latent, config.readout_weight))
    # Standardise with the pool's statistics: distances and GCN inputs on a common scale.
    mean, std = feature_scale(embeddings[pool.indices], config.ae_latent, config.readout_weight)
    table = ((embeddings - mean) / std).astype(np.float32)
    start = time.perf_counter()
    relation = jax.jit(build_relation_graph, static_argnames=("k", "min_weight"))(
        jnp.asarray(table[pool.indices]), k=config.knn, bandwidth_scale=config.bandwidth_scale,
        min_weight=config.min_weight)
    relation = trim(jax.device_get(relation))
    logging.info("assessor relation graph: %d nodes, %d edges, %.1fs", len(pool.indices),
                 int(relation.graph.n_edge[0]), time.perf_counter() - start)
    return pool, table, relation, (mean.astype(np.float32), std.astype(np.float32))


def relation_graph_for(space: spaces_base.SearchSpace, config: AssessorConfig) -> RelationGraph:
    """The (memoised) relation graph of ``space``'s pool under ``config``."""
    return _pool_graph(space, config)[2]


def _attach(relation: RelationGraph, pool_features: jax.Array, new_features: jax.Array, first_node: int,
            active: jax.Array, k: int, min_weight: float, symmetric: bool):
    """Edges joining new nodes ``first_node + i`` to their k nearest pool nodes.

    Pool -> new always; new -> pool too when ``symmetric`` (labelled nodes pass their
    label on). Inactive new nodes get padding edges (weight 0). Returns (s, r, w)."""
    pad_node = relation.graph.nodes.shape[0] - 1
    neighbours, d2 = knn_search(new_features, pool_features, k)
    w = kernel_weights(d2, relation.sigma_sq, min_weight) * active[:, None]
    new_ids = jnp.repeat(first_node + jnp.arange(new_features.shape[0], dtype=jnp.int32), k)
    nbr = neighbours.reshape(-1)
    w = w.reshape(-1)
    live = w > 0
    s = jnp.where(live, nbr, pad_node)
    r = jnp.where(live, new_ids, pad_node)
    if symmetric:
        s, r, w = jnp.concatenate([s, r]), jnp.concatenate([r, s]), jnp.concatenate([w, w])
    return s, r, w


def assessor_predictor(space: spaces_base.SearchSpace, config: AssessorConfig = AssessorConfig()) -> Predictor:
    """The semi-supervised assessor as a Predictor over ``space`` (a benchmark's search
    space). Pretrains/loads the auto-encoder and builds the pool's relation graph once.

    With ``config.joint`` the encoder is fine-tuned with the relation GCN (the paper's
    end-to-end loss, see :class:`AssessorConfig`): every step re-encodes every pool node
    (the relation graph's edges stay fixed), so its cost grows with the pool size.
    """
    config.validate()
    pool, table, relation, (emb_mean, emb_std) = _pool_graph(space, config)
    num_pool = len(pool.indices)
    pad_node = num_pool  # the relation graph's padding node
    network = relation_network(config)
    model = RelationGCN(config.gcn_hidden, config.gcn_layers, config.root_weight, config.dropout)
    table_j = jnp.asarray(table)
    lookup_j = jnp.asarray(pool.lookup)
    pool_features = relation.graph.nodes[:num_pool]
    pool_tables = edge_tables(relation.graph.senders, relation.graph.receivers, num_pool + 1)
    if config.joint:
        domain = _domain_space(space)
        autoencoder = make_autoencoder(domain, config)
        ae_params0 = autoencoder_params(pretrained_autoencoder(space, config))
        pool_graphs = jax.device_get(jax.jit(lambda: gcn.cell_graphs(domain, domain.from_index_batch(
            jnp.asarray(pool.indices))))())
        optimizer = optax.multi_transform(
            {"gcn": network.optimizer, "ae": optax.adam(config.encoder_learning_rate)},
            lambda params: {name: jax.tree_util.tree_map(lambda _: name, tree) for name, tree in params.items()})
    else:
        optimizer = network.optimizer

    def encode(ae_params, graphs):
        """(standardised embeddings float[B, D], reconstruction loss float[B]) of CellGraph arrays."""
        z, loss, _ = encode_and_reconstruct(autoencoder, domain, ae_params, graphs)
        return (architecture_features(z, config.ae_latent, config.readout_weight) - emb_mean) / emb_std, loss

    def node_features(params, extra_features, extra_graphs=None):
        """(node features [N + 1 + X, D], mean reconstruction loss): the frozen pool
        embeddings, or (joint) the pool and extra cells encoded by the current encoder."""
        if not config.joint:
            return jnp.concatenate([jax.lax.optimization_barrier(relation.graph.nodes), extra_features]), 0.0
        graphs = jax.lax.optimization_barrier(jax.tree_util.tree_map(jnp.asarray, pool_graphs))
        z, recon = encode(params["ae"], graphs)
        if extra_graphs is not None:
            extra_features = encode(params["ae"], extra_graphs)[0]
        return jnp.concatenate([z, jnp.zeros((1, z.shape[1]), z.dtype), extra_features]), recon.mean()

    def edges_with(extra_edges, num_extra):
        """Normalised edges of the pool graph plus ``num_extra`` extra nodes (placed after
        the padding node, so pool node ids are unchanged)."""
        # The pool graph is a compile-time constant: the barrier stops XLA from
        # constant-folding the (large) propagations built on it, which took minutes.
        senders, receivers, weights, tables = jax.lax.optimization_barrier(
            (relation.graph.senders, relation.graph.receivers, relation.graph.edges, pool_tables))
        s = jnp.concatenate([senders, extra_edges[0]])
        r = jnp.concatenate([receivers, extra_edges[1]])
        w = jnp.concatenate([weights, extra_edges[2]])
        return normalise(s, r, w, num_pool + 1 + num_extra, tables)

    def nodes_of(archs):
        index = space.index_batch(archs)
        return index, jnp.where(index >= 0, lookup_j[jnp.maximum(index, 0)], -1)

    def fit(key, labelled, labels, unlabelled=None):
        del unlabelled  # the pool is the unlabelled set (see the module docstring)
        labels = jnp.asarray(labels, jnp.float32)
        index, node = nodes_of(labelled)
        num_labels = labels.shape[0]
        extra_graphs = None
        if pool.covers_domain:
            extra_features = jnp.zeros((0, table.shape[1]), jnp.float32)
            extra_edges = (jnp.zeros((0,), jnp.int32),) * 2 + (jnp.zeros((0,), jnp.float32),)
            target_node = node
        else:  # labelled cells outside the pool become extra nodes N + 1 + i
            outside = (node < 0) & (index >= 0)
            extra_features = table_j[jnp.maximum(index, 0)]
            extra_edges = _attach(relation, pool_features, extra_features, pad_node + 1, outside,
                                  config.knn, config.min_weight, symmetric=True)
            target_node = jnp.where(outside, pad_node + 1 + jnp.arange(num_labels), node)
            if config.joint:
                extra_graphs = gcn.cell_graphs(domain, domain.from_index_batch(jnp.maximum(index, 0)))
        # Unusable labels (cells outside the domain) train nothing: they point at the
        # padding node with weight 0 via a NaN-free target.
        usable = target_node >= 0
        edges = edges_with(extra_edges, extra_features.shape[0])
        targets, mean, std = training.regression_targets(config.targets, labels, usable)

        if config.joint:  # features = the current encoder's embeddings, every step
            def graph_of(params):
                features, recon = node_features(params, extra_features, extra_graphs)
                return features, propagate_hops(features, edges, config.input_hops), recon
        else:  # the features are constant: propagate them once
            frozen = node_features({}, extra_features)[0]
            frozen_propagated = propagate_hops(frozen, edges, config.input_hops)

            def graph_of(params):
                return frozen, frozen_propagated, 0.0

        def loss_fn(params, batch, weights, step_key):
            features, propagated, recon = graph_of(params)
            mse = network.loss(params, RelationBatch(features, propagated, edges, batch["node"]), batch["target"],
                               weights * batch["usable"], step_key)
            return mse + config.joint_weight * recon, {}

        init_key, train_key = jax.random.split(key)
        features0 = table_j[:1]
        params = network.init(init_key, RelationBatch(features0, features0, normalise(
            jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.float32), 1),
            jnp.zeros((1,), jnp.int32)))
        if config.joint:
            params["ae"] = ae_params0
        batch = {"node": jnp.maximum(target_node, 0), "target": targets, "usable": usable.astype(jnp.float32)}
        # Transductive full-batch training: one "epoch" = one step over all labels.
        state, losses = training.train(train_key, training.init_state(params, optimizer), batch, loss_fn,
                                       optimizer, num_labels, config.steps)
        features, propagated, _ = graph_of(state.params)
        scores = model.apply(state.params["gcn"], features, propagated, edges)
        node_scores = jnp.concatenate([scores[:num_pool], scores[num_pool + 1:]])
        return AssessorState(state.params, mean, std, node_scores, features[num_pool + 1:], extra_edges, losses)

    def predict(state, archs):
        index, node = nodes_of(archs)
        in_pool = node >= 0
        pooled = state.node_scores[jnp.maximum(node, 0)]
        if pool.covers_domain:
            scores = jnp.where(in_pool, pooled, jnp.nan)
        else:  # attach the queries outside the pool as receive-only nodes and run the GCN
            query_features = table_j[jnp.maximum(index, 0)]
            first = pad_node + 1 + state.extra_features.shape[0]
            active = ~in_pool & (index >= 0)
            qs, qr, qw = _attach(relation, pool_features, query_features, first, active, config.knn,
                                 config.min_weight, symmetric=False)
            if config.joint:  # the fine-tuned encoder's embeddings of the queries
                query_features = encode(state.params["ae"], gcn.cell_graphs(
                    domain, domain.from_index_batch(jnp.maximum(index, 0))))[0]
            extra_features = jnp.concatenate([state.extra_features, query_features])
            extra_edges = tuple(jnp.concatenate([a, b]) for a, b in zip(state.extra_edges, (qs, qr, qw)))
            edges = edges_with(extra_edges, extra_features.shape[0])
            features, _ = node_features(state.params, extra_features)
            all_scores = model.apply(state.params["gcn"], features,
                                     propagate_hops(features, edges, config.input_hops), edges)
            attached = all_scores[first + jnp.arange(index.shape[0])]
            scores = jnp.where(in_pool, pooled, jnp.where(index >= 0, attached, jnp.nan))
        return scores * state.label_std + state.label_mean

    return Predictor(fit=fit, predict=predict)
