"""A classifier scored on a whole split of its data set, chunk by chunk.

A task with ``logits(params, images)`` (the MLP and conv classifiers) is scored on every example of
a split: the mean cross-entropy and the error rate. The split is cut into equal chunks (the last
one zero-padded, the padding weighted 0), so a forward pass holds one chunk at a time whatever the
split's size, and a ``jit`` compiles one chunk's pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2l.tasks.base import unwrapped

#: Examples per forward pass when scoring a whole split.
CHUNK = 2500


class Split(NamedTuple):
    """A split cut into equal chunks (zero-padded; ``weights`` 0 on the padding)."""

    images: jax.Array  # (chunks, chunk, features)
    labels: jax.Array  # (chunks, chunk)
    weights: jax.Array  # (chunks, chunk) 1.0 on real examples

    @classmethod
    def of(cls, images: Any, labels: Any, chunk: int = CHUNK) -> Split:
        images, labels = np.asarray(images, np.float32), np.asarray(labels, np.int32)
        n = labels.shape[0]
        chunk = min(chunk, n)
        pad = (-n) % chunk
        weights = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), np.float32)])
        labels = np.concatenate([labels, np.zeros(pad, np.int32)])
        return cls(
            jnp.asarray(images.reshape(-1, chunk, *images.shape[1:])),
            jnp.asarray(labels.reshape(-1, chunk)),
            jnp.asarray(weights.reshape(-1, chunk)),
        )

    @property
    def size(self) -> int:
        """The number of real examples."""
        return int(np.sum(np.asarray(self.weights)))


def split_scores(task: Any, params: Any, split: Split) -> tuple[jax.Array, jax.Array]:
    """(mean cross-entropy, error rate) of ``params`` on every example of ``split``."""

    def chunk(args: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        images, labels, weights = args
        logits = task.logits(params, images)
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1)[:, 0]
        wrong = (jnp.argmax(logits, axis=-1) != labels).astype(jnp.float32)
        return jnp.sum(weights * nll), jnp.sum(weights * wrong)

    nll, wrong = jax.lax.map(chunk, tuple(split))
    n = jnp.sum(split.weights)
    return jnp.sum(nll) / n, jnp.sum(wrong) / n


def held_out_scores(task: Any, params: Any, split: Split) -> dict[str, jax.Array]:
    """Every number ``task`` can report on a held-out ``split``: ``loss`` (the mean of its
    per-example losses: cross-entropy for a classifier, reconstruction error for an autoencoder)
    and, for a classifier (a task with ``logits``), ``accuracy``. A wrapper task
    (``unwrap(params) -> (task, params)``) is scored as the task it wraps; a task with neither
    ``logits`` nor ``example_losses`` is a ``TypeError``."""
    task, params = unwrapped(task, params)
    if hasattr(task, "logits"):
        loss, error = split_scores(task, params, split)
        return {"loss": loss, "accuracy": 1.0 - error}
    if not hasattr(task, "example_losses"):
        raise TypeError(f"{type(task).__name__} cannot be scored on a held-out split")

    def chunk(total: jax.Array, args: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
        images, labels, weights = args
        return total + jnp.sum(weights * task.example_losses(params, images, labels)), None

    total, _ = jax.lax.scan(chunk, jnp.zeros(()), tuple(split))
    return {"loss": total / jnp.sum(split.weights)}
