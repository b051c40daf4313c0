"""Checkpoints of a meta-training run: the whole meta-state and the loop's bookkeeping, written
atomically (a crash mid-write leaves the previous checkpoint), read back onto any device layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from l2l import _atomic
from l2l.meta import distributed
from l2l.meta.step import MetaState

CHECKPOINT = "checkpoint.msgpack"


def save_checkpoint(path: Path, state: Any, extra: dict) -> None:
    """Atomically write the meta-state and the loop's bookkeeping (best weights, scores)."""
    payload = {
        "state": serialization.to_state_dict(jax.tree.map(np.asarray, state)),
        "extra": serialization.to_state_dict(jax.tree.map(np.asarray, extra)),
    }
    _atomic.write_bytes(path, serialization.msgpack_serialize(payload))


def load_checkpoint(path: Path, template_state: Any, template_extra: dict, shardings=None):
    """The meta-state (a :class:`MetaState`, or a task distribution's
    :class:`l2l.meta.distribution.DistributionState`) and bookkeeping of a checkpoint; the state
    placed on ``shardings`` (a MetaState-shaped tree, as :attr:`MetaTrainer.shardings`) or on the
    default device."""
    payload = serialization.msgpack_restore(path.read_bytes())
    if isinstance(template_state, MetaState):
        payload["state"].setdefault("perturbation", {})  # checkpoints from before (P)ES
    state = serialization.from_state_dict(template_state, payload["state"])
    extra = serialization.from_state_dict(template_extra, payload["extra"])
    if shardings is None:
        return jax.tree.map(jnp.array, state), extra
    return distributed.from_host(state, shardings), extra
