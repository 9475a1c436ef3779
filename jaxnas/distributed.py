"""Devices as a mesh: seeds (and candidate batches) are split along one data axis.

The same program runs on 1 CPU, 8 GPUs or a TPU pod: state arrays whose leading axis is
the seed axis are placed with ``NamedSharding(mesh, P("seeds"))`` and XLA partitions the
jitted search. Seeds are padded up to a multiple of the device count (the extra seeds are
computed and dropped; seeds are independent, so this changes no result). Multi-host runs
call :func:`initialize` first, on every host, with the same command.
"""

from __future__ import annotations

import os
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


def set_cpu_devices(count: Optional[int]) -> None:
    """Makes the CPU backend ``count`` devices (None: leave JAX's default of one).

    XLA:CPU runs one seed's small operations (a search's per-step training) on about one
    core; with one device per core, the seeds sharded over the mesh run on every core
    (SemiNAS on 2 cores: 8 seeds 1.7x faster, 20 seeds 1.4x; BUILD_NOTES.md, issue 3).
    Call before any JAX operation (the entry points do it first). An explicit
    XLA_FLAGS=--xla_force_host_platform_device_count=N is left in force. GPU and TPU runs
    are unaffected (their devices stay the default).
    """
    if count is None or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    if count < 1:
        raise ValueError(f"CPU device count must be >= 1, got {count}")
    jax.config.update("jax_num_cpu_devices", count)


def seed_mesh(num_devices: Optional[int] = None, num_seeds: Optional[int] = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (default: all, every host; on one
    host no more than ``num_seeds``, so fewer seeds than devices are not padded)."""
    devices = jax.devices()
    count = len(devices) if num_devices is None else num_devices
    if num_devices is None and num_seeds is not None and jax.process_count() == 1:
        count = max(1, min(count, num_seeds))
    if not 1 <= count <= len(devices):
        raise DeviceCountError(
            f"--num_devices={num_devices} but {len(devices)} {devices[0].platform} device(s) are "
            f"available (on CPU, --cpu_devices=N or XLA_FLAGS=--xla_force_host_platform_device_count=N "
            f"makes N)"
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
