"""NAS-Bench-101 cells: DAGs of at most 7 vertices and 9 edges over 3 operations.

Representation
--------------
:class:`NB101Cell` holds ``adjacency`` int32[7, 7] (``adjacency[i, j] == 1``: an edge
i -> j) and ``ops`` int32[7] with the op codes of ``nb101_graphs.npz``: 0 input,
1 conv1x1-bn-relu, 2 conv3x3-bn-relu, 3 maxpool3x3, 4 output, and -1 for padding (the
file stores padding as 255; convert it). Real vertices form a prefix of the 7 slots; the
first is the input, the last real one the output. Two forms are accepted everywhere:

* raw specs: 7 real vertices, output at vertex 6, possibly with extraneous vertices that
  lie on no input->output path. The NB101 random rule and mutation produce these, and
  mutation needs them (flipping an edge can revive an extraneous vertex).
* packed specs: the pruned cell, ``n`` real vertices, output at ``n - 1``, padding after.
  ``canonicalise``, ``from_index`` and the data file hold these.

Identity
--------
Two specs are the same cell when their pruned graphs are isomorphic with the same ops.
Host side, :func:`fingerprint` reproduces the official NB101 module hash (md5-based WL
refinement) -- the join key to every NB101 table. Inside jit, :func:`wl_hash` is the same
refinement in uint32 arithmetic (2 independent 32-bit lanes), and ``index`` looks it up
in a sorted table of the hash of every row of nb101_graphs.npz. ``canonicalise`` only
prunes and packs; it does not pick a representative among isomorphic relabellings (that
is what ``index``/``from_index`` do, with the data).

Encodings (all of the packed canonical form, so every spec of one pruned cell encodes
the same way, up to isomorphic relabelling):

* ``one_hot``: float32[36] = the 21 strictly-upper-triangular adjacency bits in
  row-major order ((0,1), (0,2), ..., (0,6), (1,2), ..., (5,6)), then for vertices 1..5 a
  one-hot over (conv1x1, conv3x3, maxpool3x3), all zero for the output and padding
  vertices (where the output sits is implied by the adjacency).
* ``tokens``: SemiNAS's 27-token sequence (``convert_arch_to_seq`` in
  renqianluo/SemiNAS, nasbench/utils.py): for each column ``c`` = 1..6, the ``c`` tokens
  ``adjacency[r, c] + 1`` for r < c (1 no edge, 2 edge), then the op token of vertex c
  (3 conv1x1, 4 conv3x3, 5 maxpool3x3, 6 output); a column past the output is ``c + 1``
  zeros (0 = padding). Vocabulary 7.
* ``graph``: CellGraph with node_ops = op code per real vertex (-1 padding).

Modules
-------
* ``cell``: sizes, op codes, edge slots and :class:`NB101Cell`.
* ``spec``: host-side validation with messages, the official hash
  (:func:`fingerprint`), and official-API specs (:func:`to_spec`, :func:`from_spec`).
* ``pruning``: jittable validity, pruning and packing.
* ``graphs``: nb101_graphs.npz, loaded, checked and bit-packed (:func:`load_graphs`).
* ``wl_index``: the jittable WL hash (:func:`wl_hash`, :func:`wl_hash_rows`) and the
  sorted hash table behind ``index`` (:func:`build_index_table`), kept in the disk cache.
* ``sampling``: the random rule, raw expansion and rejection sampling.
* ``space``: :class:`NB101Space`.
"""

from __future__ import annotations

# The constants are attributes of the package too (``nb101.NUM_VERTICES``); __all__
# lists the functions and classes.
from jaxnas.spaces.nb101.cell import (
    NUM_VERTICES,
    MAX_EDGES,
    NUM_ARCHITECTURES,
    DATA_FILE,
    PAD,
    INPUT,
    CONV1X1,
    CONV3X3,
    MAXPOOL3X3,
    OUTPUT,
    OP_NAMES,
    NUM_OP_CODES,
    INTERMEDIATE_OPS,
    FILE_PADDING,
    NUM_EDGE_SLOTS,
    OP_SPOTS,
    NB101Cell,
)
from jaxnas.spaces.nb101.spec import (
    fingerprint,
    to_spec,
    from_spec,
)
from jaxnas.spaces.nb101.graphs import (
    load_graphs,
)
from jaxnas.spaces.nb101.wl_index import (
    WL_HASH_VERSION,
    WL_LANES,
    WL_ROUNDS,
    wl_hash,
    wl_hash_rows,
    build_index_table,
)
from jaxnas.spaces.nb101.space import (
    SEQUENCE_LENGTH,
    TOKEN_PAD,
    TOKEN_NO_EDGE,
    TOKEN_EDGE,
    NB101Space,
)

__all__ = [
    "NB101Cell",
    "NB101Space",
    "OP_NAMES",
    "build_index_table",
    "fingerprint",
    "from_spec",
    "load_graphs",
    "to_spec",
    "wl_hash",
    "wl_hash_rows",
]
