"""Meta-training over many devices and hosts with JAX's own SPMD machinery (``jax.sharding``).

One meta-step is one program for the whole machine (or the whole cluster): the batch of task
instances (and everything carried per instance: optimizee parameters, LSTM states, ES particles) is
split along its leading axis over a one-axis :class:`jax.sharding.Mesh` named ``"batch"``; the
meta-parameters and the meta-optimizer's state are replicated. XLA partitions the program and
inserts the one reduction it needs (the mean of the meta-gradient over the batch); there is no
scheduler of our own. Random draws are the same whatever the sharding (JAX's partitionable
threefry), so a run on 4 devices computes what a run on 1 computes, up to the order of the sums.

Several processes (hosts, or several processes on one machine) join with
``jax.distributed.initialize``: every process runs the same Python loop on its own devices, the
mesh spans the devices of all of them, process 0 alone writes the outputs. See docs/SCALE.md.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from l2l.config import ConfigError, field

BATCH_AXIS = "batch"


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """Which devices and processes a meta-training run spans.

    ``devices``: how many devices the task batch is split over (None: all devices of all
    processes, or the largest number of them that divides the batch). The process settings are
    those of ``jax.distributed.initialize``; each left None is read from the environment
    (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``). With no coordinator
    address anywhere, the run is one process (the default).
    """

    devices: int | None = field(None, ge=1, help="devices the task batch is split over")
    coordinator_address: str | None = None  # "host:port" of process 0
    num_processes: int | None = field(None, ge=1)
    process_id: int | None = field(None, ge=0)


def process_settings(cfg: DistributedConfig) -> tuple[str, int, int] | None:
    """(coordinator address, process count, process id) of a multi-process run, else None."""
    address = cfg.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    num = cfg.num_processes
    pid = cfg.process_id
    try:
        if num is None and os.environ.get("JAX_NUM_PROCESSES"):
            num = int(os.environ["JAX_NUM_PROCESSES"])
        if pid is None and os.environ.get("JAX_PROCESS_ID"):
            pid = int(os.environ["JAX_PROCESS_ID"])
    except ValueError:
        raise ConfigError(
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers, got "
            f"{os.environ.get('JAX_NUM_PROCESSES')!r} and {os.environ.get('JAX_PROCESS_ID')!r}"
        ) from None
    if address is None:
        if num not in (None, 1) or pid not in (None, 0):
            raise ConfigError(
                f"distributed: {num} processes (this one number {pid}) but no coordinator address;"
                " set distributed.coordinator_address (host:port of process 0) or "
                "JAX_COORDINATOR_ADDRESS"
            )
        return None
    if num is None or pid is None:
        raise ConfigError(
            f"distributed: coordinator {address!r} given, but not the number of processes and this "
            "process's id; set distributed.num_processes and distributed.process_id (or "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID)"
        )
    if not 0 <= pid < num:
        raise ConfigError(f"distributed: process_id {pid} is not in [0, num_processes={num})")
    return address, num, pid


def initialize(cfg: DistributedConfig) -> None:
    """Join the processes of a multi-process run (``jax.distributed.initialize``); a no-op for a
    single process or when already joined. Must run before JAX's first computation."""
    settings = process_settings(cfg)
    if settings is None or settings[1] == 1 or jax.distributed.is_initialized():
        return
    address, num, pid = settings
    try:
        jax.distributed.initialize(address, num_processes=num, process_id=pid)
    except RuntimeError as err:
        raise RuntimeError(
            f"distributed: could not join {num} processes at {address} as process {pid}: {err}. "
            "jax.distributed.initialize must run before any JAX computation in the process, and "
            "every process must be started with the same coordinator address"
        ) from err


def make_mesh(batch_size: int, devices: int | None = None) -> Mesh:
    """A one-axis mesh ``("batch",)`` over ``devices`` of ``jax.devices()`` (all processes).

    ``devices=None`` takes all of them, or, when the batch does not split evenly over all, the
    largest number that divides ``batch_size`` (with a warning naming what to change).
    """
    available = jax.devices()
    processes = jax.process_count()
    if devices is None:
        # Every process must hold a share of the batch: counts that are multiples of the processes.
        fits = [d for d in range(processes, len(available) + 1, processes) if batch_size % d == 0]
        if not fits:
            raise ConfigError(
                f"batch_size {batch_size} does not split over the {processes} processes; choose "
                f"a multiple of {processes}"
            )
        count = max(fits)
        if count < len(available):
            warnings.warn(
                f"meta-training on {count} of {len(available)} devices: batch_size {batch_size} "
                f"does not split evenly over {len(available)}; choose a batch_size that is a "
                "multiple of the device count to use them all",
                stacklevel=2,
            )
    else:
        count = devices
        if count > len(available):
            raise ConfigError(
                f"distributed.devices = {count}, but only {len(available)} devices are visible "
                f"({available[0].platform}); lower it or leave it null to use all"
            )
        if batch_size % count:
            raise ConfigError(
                f"batch_size {batch_size} does not split evenly over distributed.devices = {count}"
            )
    if count % processes:
        raise ConfigError(
            f"distributed.devices = {count} does not split evenly over the {processes} processes"
        )
    if processes > 1:
        # Take the same number of devices from every process, so that each holds its own shard.
        per = count // processes
        chosen = [d for p in range(processes) for d in _process_devices(p)[:per]]
    else:
        chosen = available[:count]
    return Mesh(np.asarray(chosen), (BATCH_AXIS,))


def _process_devices(process: int) -> list:
    return [d for d in jax.devices() if d.process_index == process]


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Split along the leading (task instance) axis; every other axis whole."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def to_host(tree):
    """NumPy copies of a pytree of (possibly sharded, possibly multi-process) arrays, whole on
    every process (copies: the jitted step donates, and so reuses, the buffers of its input).
    A collective when there are several processes: all of them must call it."""
    if jax.process_count() == 1:
        return jax.tree.map(np.array, tree)
    from jax.experimental import multihost_utils

    def whole(a):
        if not isinstance(a, jax.Array) or a.is_fully_replicated:
            return np.array(a)
        return np.array(multihost_utils.process_allgather(a, tiled=True))

    return jax.tree.map(whole, tree)


def from_host(tree, shardings):
    """Place whole NumPy arrays (the same on every process) onto ``shardings`` (a matching tree)."""

    def put(a, sharding):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree.map(put, tree, shardings)


def barrier(name: str) -> None:
    """Wait until every process gets here (a no-op for one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
