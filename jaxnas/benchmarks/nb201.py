"""NAS-Bench-201 benchmarks (all 15,625 cells), rows reordered into the space's order.

Every column read is an accuracy in percent with a value for every cell (the shipped
files hold no NaN; cells with no input->output path score 10 % on CIFAR-10), so a NaN,
a value outside [0, 100] or a column of fractions is refused on load.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jaxnas import data
from jaxnas.benchmarks.base import Benchmark
from jaxnas.spaces import nb201 as nb201_space

_N = nb201_space.NUM_ARCHITECTURES
_TWELVE_EPOCH_DATASETS = ("cifar10", "cifar100", "imagenet16")


def _space_order(file_name: str, ops: np.ndarray) -> np.ndarray:
    """Row of the file holding each space index (the file is in official order)."""
    data.check_shape(file_name, "ops", ops, (_N, nb201_space.NUM_EDGES), kinds="iu")
    data.check_values(file_name, "ops", ops, low=0, high=nb201_space.NUM_OPS - 1)
    codes = ops.astype(np.int64) @ nb201_space._RADIX
    if np.unique(codes).size != _N:
        raise data.DataFileError(f"{file_name}: the 'ops' column does not list every NB201 cell once")
    rows = np.empty(_N, np.int64)
    rows[codes] = np.arange(_N)
    return rows


def _columns(file_name: str, names, data_dir) -> dict:
    table = data.load_npz(file_name, ["ops", *names], data_dir)
    rows = _space_order(file_name, table["ops"])
    out = {}
    for name in names:
        data.check_shape(file_name, name, table[name], (_N,))
        data.check_values(file_name, name, table[name], data.PERCENT)
        out[name] = table[name].astype(np.float32)[rows]
    return out


def load_cifar10(data_dir: Optional[str] = None) -> Benchmark:
    """Search on an independent training's accuracy, report the official 200-epoch test.

    The AnalogNAS-Bench ``c10_baseline_accuracy`` is a second, independent training of
    every cell: searching on it and reporting ``cifar10_test_200ep`` keeps the search
    from selecting on the very number it is judged by.
    """
    official = _columns(
        "nb201.npz",
        ["cifar10_test_200ep", "cifar10_test_12ep", "cifar10_valid_12ep"],
        data_dir,
    )
    analog = _columns("nb201_analognas.npz", ["c10_baseline_accuracy"], data_dir)
    return Benchmark(
        name="nb201_cifar10",
        space=nb201_space.NB201Space(),
        signal=analog["c10_baseline_accuracy"],
        reported=official["cifar10_test_200ep"],
        signal_name="AnalogNAS c10_baseline_accuracy (independent training)",
        reported_name="cifar10_test_200ep",
        description="NAS-Bench-201 CIFAR-10, 200 epochs",
        columns={
            "cifar10_test_12ep": official["cifar10_test_12ep"],
            "cifar10_valid_12ep": official["cifar10_valid_12ep"],
        },
    )


def load_12ep(dataset: str, data_dir: Optional[str] = None) -> Benchmark:
    """Low-fidelity (12-epoch) benchmark: validation accuracy as signal, test reported."""
    if dataset not in _TWELVE_EPOCH_DATASETS:
        raise ValueError(f"no 12-epoch NB201 columns for {dataset!r}; choose from {_TWELVE_EPOCH_DATASETS}")
    valid, test = f"{dataset}_valid_12ep", f"{dataset}_test_12ep"
    columns = _columns("nb201.npz", [valid, test], data_dir)
    return Benchmark(
        name=f"nb201_{dataset}_12ep",
        space=nb201_space.NB201Space(),
        signal=columns[valid],
        reported=columns[test],
        signal_name=valid,
        reported_name=test,
        description=f"NAS-Bench-201 {dataset}, 12-epoch schedule",
    )
