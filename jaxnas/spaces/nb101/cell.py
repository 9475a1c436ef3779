"""NB101 cell arrays: sizes, op codes, edge slots and :class:`NB101Cell` (the package
docstring describes the representation)."""

from __future__ import annotations

import jax
import numpy as np
from flax import struct


NUM_VERTICES = 7
MAX_EDGES = 9
NUM_ARCHITECTURES = 423_624
DATA_FILE = "nb101_graphs.npz"

PAD, INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT = -1, 0, 1, 2, 3, 4
OP_NAMES = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
NUM_OP_CODES = len(OP_NAMES)
INTERMEDIATE_OPS = (CONV1X1, CONV3X3, MAXPOOL3X3)
FILE_PADDING = 255  # how nb101_graphs.npz stores padding

_UPPER_ROWS, _UPPER_COLS = np.triu_indices(NUM_VERTICES, k=1)  # row-major edge slots
NUM_EDGE_SLOTS = len(_UPPER_ROWS)  # 21
_STRICT_UPPER = np.triu(np.ones((NUM_VERTICES, NUM_VERTICES), bool), k=1)
OP_SPOTS = NUM_VERTICES - 2  # vertices whose op is searched


@struct.dataclass
class NB101Cell:
    """adjacency: int32[..., 7, 7] 0/1; ops: int32[..., 7] op codes (-1 padding)."""

    adjacency: jax.Array
    ops: jax.Array
