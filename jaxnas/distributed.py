"""Devices as a mesh: seeds (and candidate batches) are split along one data axis.

The same program runs on 1 CPU, 8 GPUs or a TPU pod: state arrays whose leading axis is
the seed axis are placed with ``NamedSharding(mesh, P("seeds"))`` and XLA partitions the
jitted search. Seeds are padded up to a multiple of the device count (the extra seeds are
computed and dropped; seeds are independent, so this changes no result). Multi-host runs
call :func:`initialize` first, on every host, with the same command.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

SEED_AXIS = "seeds"


class DeviceCountError(ValueError):
    """More devices were asked for than exist (or a subset in a multi-host run)."""


def initialize(distributed: bool) -> None:
    """Multi-host start-up (``jax.distributed.initialize``) when ``distributed`` is set.

    On TPU pods and SLURM/Open MPI clusters the coordinator address, process count and
    id are discovered from the environment; every host runs the same command.
    """
    if distributed:
        jax.distributed.initialize()


def seed_mesh(num_devices: Optional[int] = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (default: all, every host)."""
    devices = jax.devices()
    count = len(devices) if num_devices is None else num_devices
    if not 1 <= count <= len(devices):
        raise DeviceCountError(
            f"--num_devices={num_devices} but {len(devices)} {devices[0].platform} device(s) are "
            f"available (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)"
        )
    if jax.process_count() > 1 and count != len(devices):
        raise DeviceCountError("multi-host runs use every device: leave --num_devices unset")
    return Mesh(np.asarray(devices[:count]), (SEED_AXIS,))


def seed_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh's seed axis; the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def padded_count(count: int, mesh: Mesh) -> int:
    """``count`` rounded up to a multiple of the mesh size."""
    size = mesh.devices.size
    return -(-count // size) * size


def to_host(tree: Any) -> Any:
    """Numpy copy of a (possibly multi-host) sharded pytree, on every process."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)
