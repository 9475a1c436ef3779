"""Devices as a mesh: seeds (and candidate batches) are split along one data axis.

The same program runs on 1 CPU, 8 GPUs or a TPU pod: state arrays whose leading axis is
the seed axis are placed with ``NamedSharding(mesh, P("seeds"))`` and XLA partitions the
jitted search. Seeds are padded up to a multiple of the device count (the extra seeds are
computed and dropped; seeds are independent, so this changes no result). Multi-host runs
call :func:`initialize` first, on every host, with the same command.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

SEED_AXIS = "seeds"


class DeviceCountError(ValueError):
    """More devices were asked for than exist (or a subset in a multi-host run)."""


def initialize(distributed: bool, coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, heartbeat_timeout_seconds: int = 100) -> None:
    """Multi-process start-up (JAX's own runtime, ``jax.distributed.initialize``) when
    ``distributed`` is set; call before any JAX operation.

    On TPU pods and SLURM/Open MPI clusters the coordinator address, process count and
    id are discovered from the environment and every host runs the same command.
    Elsewhere (several processes on one machine, or hosts you start yourself) give
    ``coordinator_address`` (host:port of process 0), ``num_processes`` and each process's
    ``process_id``. CPU devices of different processes exchange results through JAX's
    CPU collectives (gloo, JAX's default). A process that dies stops sending heartbeats:
    after ``heartbeat_timeout_seconds`` the runtime ends every other process with an
    error naming the unhealthy task, so no process hangs waiting for it.
    """
    if not distributed:
        if coordinator_address or num_processes is not None or process_id is not None:
            raise ValueError("coordinator_address, num_processes and process_id need distributed=True")
        return
    if heartbeat_timeout_seconds < 1:
        raise ValueError(f"heartbeat_timeout_seconds must be >= 1, got {heartbeat_timeout_seconds}")
    if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, num_processes={num_processes}), got {process_id}")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, heartbeat_timeout_seconds=heartbeat_timeout_seconds)


def use_unrolled_cpu_rng() -> None:
    """Lowers JAX's threefry PRNG on CPU as straight-line code instead of a 5-trip loop.

    The same 32-bit integer arithmetic (the GPU lowering), so every random number is
    bit for bit the same; what changes is that XLA fuses the whole hash into one kernel.
    Every dropout mask, shuffle and sample in jaxnas draws through it, and a search's
    program holds many: SemiNAS's training loop compiled in about 60 s instead of
    160-190 s on this CPU (scripts/bench_rounds.py figures in the design notes). Uses
    JAX's lowering registry (a private module), so it is skipped, with no change to any
    result, when that is not there.
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
    except ImportError:
        return
    rule = getattr(threefry2x32, "_threefry2x32_lowering_rule", None)
    if rule is not None:
        mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")


def set_cpu_devices(count: Optional[int]) -> None:
    """Makes the CPU backend ``count`` devices (None: leave JAX's default of one).

    XLA:CPU runs one seed's small operations (a search's per-step training) on about one
    core; with one device per core, the seeds sharded over the mesh run on every core.
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
    return device_mesh(num_devices, SEED_AXIS, num_seeds)


def device_mesh(num_devices: Optional[int], axis: str, num_seeds: Optional[int] = None) -> Mesh:
    """:func:`seed_mesh` with its one axis named ``axis`` (e.g. a data-parallel batch axis).
    Raises DeviceCountError naming the flag for a count the devices do not allow."""
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
    return Mesh(np.asarray(devices[:count]), (axis,))


def seed_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh's seed axis; the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def per_device(fn: Callable, sharding: NamedSharding, sharded_args: Sequence[bool]) -> Callable:
    """``fn`` run on each device over its own shard of the seed axis (``shard_map``).

    ``sharded_args[i]``: argument i is split along its leading (seed) axis; otherwise it
    is replicated. The outputs are split along the seed axis. Seeds are independent, so
    this computes what ``fn`` over all seeds would, with no cross-device communication
    inside ``fn`` (under plain SPMD partitioning a vmapped ``while_loop``'s "any seed
    still running" test becomes an all-reduce over every device at every trip).
    """
    specs = tuple(sharding.spec if sharded else PartitionSpec() for sharded in sharded_args)
    return jax.shard_map(fn, mesh=sharding.mesh, in_specs=specs, out_specs=sharding.spec, check_vma=False)


def padded_count(count: int, mesh: Mesh) -> int:
    """``count`` rounded up to a multiple of the mesh size."""
    size = mesh.devices.size
    return -(-count // size) * size


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host array that every process holds in full (each process
    places only its own devices' shards; ``jax.device_put`` cannot target other hosts)."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(tree: Any) -> Any:
    """Numpy copy of a (possibly multi-host) sharded pytree, on every process (PRNG key
    leaves come back as key arrays on this process's first device)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)

    def gather(leaf):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = multihost_utils.process_allgather(jax.random.key_data(leaf), tiled=True)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return multihost_utils.process_allgather(leaf, tiled=True)

    return jax.tree_util.tree_map(gather, tree)
