r"""MLP autoencoders on an on-device image set, and their task kind ``autoencoder``.

The network maps an image :math:`x \in [0, 1]^D` through hidden layers to itself: encoder
``hidden_sizes`` (the last one the code), decoder the encoder's mirror, a sigmoid output,

.. math::  \hat x = \sigma(W_L h_{L-1} + b_L),\quad
           \ell(x) = \frac{1}{D} \sum_{j=1}^{D} (\hat x_j - x_j)^2,

so ``hidden_sizes=(32, 8)`` on 8x8 images is 64-32-8-32-64. Weights are N(0, 1 / fan_in) (LeCun),
biases zero. The loss is the mean squared reconstruction error of a minibatch drawn, with
replacement, from the key given to :meth:`MLPAutoencoder.loss`; the labels of the data set are
not used. The MLP autoencoder is one of the task families of Metz et al.'s suites
(``learned_optimization``'s ``FixedMLPAE``).

Reference: Metz et al., 2022, "VeLO: Training Versatile Learned Optimizers by Scaling Up",
appendix (the task families of its meta-training and held-out suites).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register
from l2l.tasks.mlp import ACTIVATIONS, Activation, MLPInstance, check_dataset, load_split

#: An autoencoder's parameters: one ``{"w": (n_in, n_out), "b": (n_out,)}`` per layer.
AEParams = tuple[dict[str, jax.Array], ...]


@struct.dataclass
class MLPAutoencoder:
    """A fully connected autoencoder trained on minibatches of ``images`` (N, D) in [0, 1]."""

    images: jax.Array
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(32, 8))
    activation: str = struct.field(pytree_node=False, default="relu")
    batch_size: int = struct.field(pytree_node=False, default=128)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"MLPAutoencoder: activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                "MLPAutoencoder: hidden_sizes must be one or more positive sizes (the last is "
                f"the code), got {self.hidden_sizes!r}"
            )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Input, encoder, code, mirrored decoder, output: (D, h_1, ..., h_k, ..., h_1, D)."""
        d = self.images.shape[-1]
        return (d, *self.hidden_sizes, *reversed(self.hidden_sizes[:-1]), d)

    def sample(self, key: jax.Array) -> MLPInstance:
        del key
        return MLPInstance()

    def init(self, key: jax.Array, instance: MLPInstance | None = None) -> AEParams:
        del instance
        sizes = self.layer_sizes
        keys = jax.random.split(key, len(sizes) - 1)
        return tuple(
            {
                "w": jax.random.normal(k, (n_in, n_out)) / jnp.sqrt(n_in),
                "b": jnp.zeros((n_out,)),
            }
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
        )

    def reconstruct(self, params: AEParams, images: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = images
        for layer in params[:-1]:
            h = act(h @ layer["w"] + layer["b"])
        return jax.nn.sigmoid(h @ params[-1]["w"] + params[-1]["b"])

    def example_losses(
        self, params: AEParams, images: jax.Array, labels: jax.Array | None = None
    ) -> jax.Array:
        """Each example's mean squared reconstruction error (labels unused)."""
        del labels
        return jnp.mean((self.reconstruct(params, images) - images) ** 2, axis=-1)

    def loss(self, params: AEParams, instance: MLPInstance | None, key: jax.Array) -> jax.Array:
        del instance
        idx = jax.random.randint(key, (self.batch_size,), 0, self.images.shape[0])
        return jnp.mean(self.example_losses(params, self.images[idx]))

    def training_loss(self, params: AEParams, instance: MLPInstance | None = None) -> jax.Array:
        """The mean reconstruction error over every training image."""
        del instance
        return jnp.mean(self.example_losses(params, self.images))


@register("autoencoder")
@dataclasses.dataclass(frozen=True)
class AutoencoderConfig(TaskConfig):
    """``task: {kind: autoencoder}``: an MLP autoencoder (:class:`MLPAutoencoder`) on MNIST or
    Fashion-MNIST, at 28x28 or resized to ``image_size`` a side (as for ``mlp``)."""

    kind: Literal["autoencoder"] = "autoencoder"
    hidden_sizes: tuple[int, ...] = (32, 8)
    activation: Activation = "relu"
    batch_size: int = field(128, ge=1)
    dataset: str = "mnist"
    data_dir: str | None = None
    split: Literal["train", "validation", "test"] = "train"
    image_size: int | None = field(None, ge=1, help="resize the 28x28 images to this size a side")

    def __post_init__(self) -> None:
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"hidden_sizes must be one or more positive sizes, got {list(self.hidden_sizes)}"
            )
        check_dataset(self.dataset)

    def build(self) -> MLPAutoencoder:
        data = load_split(self.dataset, self.data_dir, self.split, self.image_size)
        return MLPAutoencoder(
            images=data["images"],
            hidden_sizes=tuple(self.hidden_sizes),
            activation=self.activation,
            batch_size=self.batch_size,
        )
