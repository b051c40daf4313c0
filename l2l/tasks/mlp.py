"""MLP classifiers on an on-device dataset: the network optimizees of Andrychowicz et al., 2016
(section 3.2), and their task kinds ``mlp`` and ``mlp_mix`` (on MNIST or Fashion-MNIST)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register

#: An MLP's parameters: one ``{"w": (n_in, n_out), "b": (n_out,)}`` per layer.
MLPParams = tuple[dict[str, jax.Array], ...]

ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
}


class MLPInstance(NamedTuple):
    """An MLP problem has no random structure of its own: its randomness is the initial weights
    (:meth:`MLPClassifier.init`) and the minibatch stream (the ``key`` of
    :meth:`MLPClassifier.loss`).
    The empty instance keeps the task contract uniform."""


@struct.dataclass
class MLPClassifier:
    """A fully connected classifier trained with softmax cross-entropy on minibatches.

    The dataset (``images`` (N, D) float32, ``labels`` (N,) int32) is a pytree leaf of the task, so
    it lives on device and passes into ``jit`` as an argument, never as a baked-in constant; a
    minibatch of ``batch_size`` examples is drawn (with replacement) from the key given to
    :meth:`loss`. Weights are N(0, init_scale^2), biases zero. Params are a tuple of
    ``{"w", "b"}`` dicts, one per layer.
    """

    images: jax.Array
    labels: jax.Array
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(20,))
    activation: str = struct.field(pytree_node=False, default="sigmoid")
    batch_size: int = struct.field(pytree_node=False, default=128)
    init_scale: float = struct.field(pytree_node=False, default=0.1)
    num_classes: int = struct.field(pytree_node=False, default=10)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"MLPClassifier: activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if any((not isinstance(h, int)) or h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"MLPClassifier: hidden_sizes must be positive integers, got {self.hidden_sizes!r}"
            )
        if self.batch_size < 1:
            raise ValueError(f"MLPClassifier: batch_size must be >= 1, got {self.batch_size!r}")
        if getattr(self.images, "ndim", 2) != 2:
            raise ValueError(
                f"MLPClassifier: images must have shape (N, features), got {self.images.shape}"
            )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.images.shape[-1], *self.hidden_sizes, self.num_classes)

    def sample(self, key: jax.Array) -> MLPInstance:
        del key
        return MLPInstance()

    def init(self, key: jax.Array, instance: MLPInstance | None = None) -> MLPParams:
        del instance
        sizes = self.layer_sizes
        keys = jax.random.split(key, len(sizes) - 1)
        return tuple(
            {"w": self.init_scale * jax.random.normal(k, (n_in, n_out)), "b": jnp.zeros((n_out,))}
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
        )

    def logits(self, params: MLPParams, images: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = images
        for layer in params[:-1]:
            h = act(h @ layer["w"] + layer["b"])
        return h @ params[-1]["w"] + params[-1]["b"]

    def minibatch(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = jax.random.randint(key, (self.batch_size,), 0, self.labels.shape[0])
        return self.images[idx], self.labels[idx]

    def loss(self, params: MLPParams, instance: MLPInstance | None, key: jax.Array) -> jax.Array:
        del instance
        images, labels = self.minibatch(key)
        return cross_entropy(self.logits(params, images), labels)

    def full_loss(self, params: MLPParams, images: jax.Array, labels: jax.Array) -> jax.Array:
        """Mean cross-entropy over a whole split (e.g. held-out data)."""
        return cross_entropy(self.logits(params, images), labels)

    def training_loss(self, params: MLPParams, instance: MLPInstance | None = None) -> jax.Array:
        """The mean cross-entropy over every example of the training split (the task protocol's
        whole-training-set loss)."""
        del instance
        return self.full_loss(params, self.images, self.labels)

    def error_rate(self, params: MLPParams, images: jax.Array, labels: jax.Array) -> jax.Array:
        """Fraction of misclassified examples."""
        return jnp.mean(jnp.argmax(self.logits(params, images), axis=-1) != labels)


@struct.dataclass
class MLPMixture:
    """Several MLPs trained side by side on one dataset: one optimizee whose params are a tuple (one
    entry per architecture) and whose loss is the *sum* of the members' losses, each on its own
    minibatch.

    The members share no parameters, so every member's gradient is exactly what it would be if it
    were trained alone; a coordinatewise optimizer (the learned LSTMs) therefore updates each one as
    if alone, and meta-training on the mixture is meta-training on all its architectures at once,
    each meta-step seeing every one of them (the meta-objective summed over members).
    ``architectures`` is a tuple of ``(hidden_sizes, activation)`` pairs.
    """

    images: jax.Array
    labels: jax.Array
    architectures: tuple[tuple[tuple[int, ...], str], ...] = struct.field(
        pytree_node=False, default=(((20,), "sigmoid"),)
    )
    batch_size: int = struct.field(pytree_node=False, default=128)
    init_scale: float = struct.field(pytree_node=False, default=0.1)
    num_classes: int = struct.field(pytree_node=False, default=10)

    def __post_init__(self) -> None:
        if not self.architectures:
            raise ValueError(
                "MLPMixture: architectures must name at least one (hidden_sizes, activation)"
            )
        _ = self.members  # builds (and so validates) every architecture

    @property
    def members(self) -> tuple[MLPClassifier, ...]:
        return tuple(
            MLPClassifier(
                images=self.images,
                labels=self.labels,
                hidden_sizes=tuple(hidden),
                activation=activation,
                batch_size=self.batch_size,
                init_scale=self.init_scale,
                num_classes=self.num_classes,
            )
            for hidden, activation in self.architectures
        )

    def sample(self, key: jax.Array) -> MLPInstance:
        del key
        return MLPInstance()

    def init(self, key: jax.Array, instance: MLPInstance | None = None) -> tuple[MLPParams, ...]:
        del instance
        keys = jax.random.split(key, len(self.architectures))
        return tuple(m.init(k) for m, k in zip(self.members, keys))

    def member_losses(
        self, params: tuple[MLPParams, ...], instance: MLPInstance | None, key: jax.Array
    ) -> jax.Array:
        """(members,) minibatch losses, member i on the minibatch of ``fold_in(key, i)``."""
        del instance
        return jnp.stack(
            [
                m.loss(p, None, jax.random.fold_in(key, i))
                for i, (m, p) in enumerate(zip(self.members, params))
            ]
        )

    def loss(
        self, params: tuple[MLPParams, ...], instance: MLPInstance | None, key: jax.Array
    ) -> jax.Array:
        return jnp.sum(self.member_losses(params, instance, key))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


Activation = Literal["sigmoid", "tanh", "relu", "gelu"]
Split = Literal["train", "validation", "test"]


def _check_hidden_sizes(hidden_sizes: Sequence[int]) -> None:
    if any(h < 1 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes must be positive, got {list(hidden_sizes)}")


def check_dataset(name: str) -> None:
    """A ``ValueError`` (with "did you mean") unless ``name`` is a registered data set."""
    from l2l.data import dataset_spec

    dataset_spec(name)


def load_split(
    dataset: str, data_dir: str | None, split: str, image_size: int | None = None
) -> dict:
    """One split of a data set as device arrays, the task's pytree leaves: ``images`` (N, 784),
    ``labels`` (N,) and the data set's ``num_classes``. ``train`` draws from the official
    training split (less a seeded validation carve); ``test`` is the official test split (see
    :func:`l2l.data.load_dataset`). ``image_size``: resize the 28x28 images to that many pixels
    a side (:func:`resize_images`), then (N, image_size**2)."""
    import jax.numpy as jnp

    from l2l.data import dataset_spec, load_dataset

    part = getattr(load_dataset(dataset, data_dir), split)
    images = part.images if image_size is None else resize_images(part.images, image_size)
    return {
        "images": jnp.asarray(images),
        "labels": jnp.asarray(part.labels),
        "num_classes": dataset_spec(dataset).num_classes,
    }


def resize_images(images: Any, size: int, side: int = 28) -> np.ndarray:
    """Flattened (N, side * side) grey images resized to (N, size * size): ``jax.image.resize``,
    linear with antialiasing (each new pixel a weighted average of the old ones it covers), once,
    when a task is built. 8 gives the 8x8 image MLPs of Metz et al.'s task suites."""
    square = jnp.asarray(images, jnp.float32).reshape(-1, side, side)
    small = jax.image.resize(square, (square.shape[0], size, size), "linear", antialias=True)
    return np.asarray(small.reshape(-1, size * size), np.float32)


@register("mlp")
@dataclasses.dataclass(frozen=True)
class MLPConfig(TaskConfig):
    """``task: {kind: mlp}``: an MLP classifier on MNIST or Fashion-MNIST (:class:`MLPClassifier`).

    ``dataset`` names a registered data set (``mnist``, ``fashion-mnist``), read from ``data_dir``
    (else ``$L2L_DATA_DIR``, a system package's directory or the cache directory, see
    :func:`l2l.data.load_dataset`); the optimizee trains on minibatches of ``split``.
    ``image_size``: train on the images resized to that many pixels a side (e.g. 8, the 8x8
    image MLPs of Metz et al.; :func:`resize_images`); None: the 28x28 originals.
    """

    kind: Literal["mlp"] = "mlp"
    hidden_sizes: tuple[int, ...] = (20,)
    activation: Activation = "sigmoid"
    batch_size: int = field(128, ge=1)
    init_scale: float = field(0.1, gt=0)
    dataset: str = "mnist"
    data_dir: str | None = None
    split: Split = "train"
    image_size: int | None = field(None, ge=1, help="resize the 28x28 images to this size a side")

    def __post_init__(self) -> None:
        _check_hidden_sizes(self.hidden_sizes)
        check_dataset(self.dataset)

    def build(self) -> MLPClassifier:
        return MLPClassifier(
            **load_split(self.dataset, self.data_dir, self.split, self.image_size),
            hidden_sizes=tuple(self.hidden_sizes),
            activation=self.activation,
            batch_size=self.batch_size,
            init_scale=self.init_scale,
        )


@dataclasses.dataclass(frozen=True)
class ArchitectureConfig:
    """One member of an ``mlp_mix`` task: an MLP's hidden layer sizes and activation."""

    hidden_sizes: tuple[int, ...] = (20,)
    activation: Activation = "sigmoid"

    def __post_init__(self) -> None:
        _check_hidden_sizes(self.hidden_sizes)


@register("mlp_mix")
@dataclasses.dataclass(frozen=True)
class MLPMixConfig(TaskConfig):
    """``task: {kind: mlp_mix, architectures: [...]}``: one MLP of each architecture trained side
    by side (:class:`MLPMixture`; loss the sum of theirs), on a data set as for ``mlp``."""

    kind: Literal["mlp_mix"] = "mlp_mix"
    architectures: tuple[ArchitectureConfig, ...] = ()
    batch_size: int = field(128, ge=1)
    init_scale: float = field(0.1, gt=0)
    dataset: str = "mnist"
    data_dir: str | None = None
    split: Split = "train"

    def __post_init__(self) -> None:
        if not self.architectures:
            raise ValueError(
                "architectures: kind mlp_mix needs at least one {hidden_sizes, activation}"
            )
        check_dataset(self.dataset)

    def build(self) -> MLPMixture:
        return MLPMixture(
            **load_split(self.dataset, self.data_dir, self.split),
            architectures=tuple((tuple(a.hidden_sizes), a.activation) for a in self.architectures),
            batch_size=self.batch_size,
            init_scale=self.init_scale,
        )
