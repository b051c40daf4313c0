"""Small conv nets on an on-device image set: the CIFAR-10 optimizee of Andrychowicz et al., 2016
(section 3.3), at 28x28x1 on MNIST or Fashion-MNIST, and its task kind ``conv``.

The network (defaults), for an image ``x`` of shape (28, 28, 1)::

    3 x [conv 3x3 (SAME, stride 1), 16 channels -> (batch norm) -> ReLU -> max pool 2x2 (stride 2)]
        spatial size 28 -> 14 -> 7 -> 3 (pooling drops an odd last row and column)
    flatten (3 * 3 * 16 = 144) -> dense 32 -> (batch norm) -> ReLU -> dense 10 (logits)

Params are a dict keyed by layer, so a per-group learned optimizer can assign networks by leaf
path: ``{"conv_0": {"kernel": (3, 3, 1, 16), "bias": (16,)}, "conv_1": ..., "conv_2": ...,
"dense_0": {"kernel": (144, 32), "bias": (32,)}, "out": {"kernel": (32, 10), "bias": (10,)}}``;
9,770 parameters at the defaults. With ``batch_norm`` each hidden layer also has a ``"scale"``:
its pre-activation ``z`` becomes ``scale * (z - mean) / sqrt(var + 1e-5) + bias`` with the mean and
variance of the *minibatch* (over batch and spatial axes), no running statistics, so the loss stays
a pure function of (params, key). The paper used batch norm throughout; here it is off by default.

Two lowerings of the same function (``lowering``): ``matmul`` (the default) computes each 3x3
convolution as one matrix product of the image patches (im2col: the 9 shifted copies of the padded
input side by side, (pixels, 9 c_in) @ (9 c_in, c_out)) and each 2x2 max pool as a maximum over a
reshaped axis; ``conv`` uses XLA's convolution and ``reduce_window``. Under ``vmap`` over task
instances (every instance its own kernels) the first becomes a batched matmul and the second a
grouped convolution, which XLA's CPU backend runs several times slower (scripts/bench_meta_train.py,
docs/throughput.md); the loss and its gradient are the same to float rounding
(tests/tasks/test_conv.py).

Reference: Andrychowicz et al., 2016, "Learning to learn by gradient descent by gradient descent",
section 3.3: on CIFAR-10, three convolutional layers with max pooling, then a fully connected layer
of 32 hidden units, ReLU activations with batch normalization.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register
from l2l.tasks.mlp import MLPInstance, Split, check_dataset, cross_entropy, load_split

INITS = ("lecun", "he", "normal")
LOWERINGS = ("matmul", "conv")
BATCH_NORM_EPS = 1e-5
KERNEL_SIZE = 3
POOL = 2


@struct.dataclass
class ConvClassifier:
    """A conv net classifier trained with softmax cross-entropy on minibatches.

    The dataset (``images`` (N, H*W*C) float, ``labels`` (N,) int32) is a pytree leaf of the task,
    so it lives on device and passes into ``jit`` as an argument; a minibatch of ``batch_size``
    examples is drawn (with replacement) from the key given to :meth:`loss` and reshaped to
    ``image_shape`` (height, width, channels).

    Initialization (``init_scheme``), with fan_in the number of inputs of one unit (3 * 3 *
    in_channels for a conv): ``"lecun"`` draws every kernel from N(0, init_scale^2 / fan_in), the
    scale of Sonnet's default initializer (a truncated normal there), which DeepMind's code for the
    paper used; the logits then start small (on MNIST their variance over classes is 0.03 to 0.1),
    so the loss at init is log(10) + 0.02 to 0.07. ``"he"`` uses N(0, init_scale^2 * 2 / fan_in)
    for the ReLU layers (He et al., 2015) and LeCun's for the output layer; max pooling then grows
    the activations layer by layer and the loss at init is about 2.8 on MNIST. ``"normal"`` draws
    every kernel from N(0, init_scale^2), as the MLP task does. Biases start at 0, batch-norm scales
    at 1.
    """

    images: jax.Array
    labels: jax.Array
    image_shape: tuple[int, int, int] = struct.field(pytree_node=False, default=(28, 28, 1))
    channels: tuple[int, ...] = struct.field(pytree_node=False, default=(16, 16, 16))
    dense_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(32,))
    batch_norm: bool = struct.field(pytree_node=False, default=False)
    batch_size: int = struct.field(pytree_node=False, default=128)
    init_scheme: str = struct.field(pytree_node=False, default="lecun")
    init_scale: float = struct.field(pytree_node=False, default=1.0)
    num_classes: int = struct.field(pytree_node=False, default=10)
    lowering: str = struct.field(pytree_node=False, default="matmul")

    def __post_init__(self):
        if self.lowering not in LOWERINGS:
            raise ValueError(
                f"ConvClassifier: lowering must be one of {LOWERINGS}, got {self.lowering!r}"
            )
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(
                f"ConvClassifier: channels must be one or more positive integers, "
                f"got {self.channels!r}"
            )
        if any(not isinstance(d, int) or d < 1 for d in self.dense_sizes):
            raise ValueError(
                f"ConvClassifier: dense_sizes must be positive integers, got {self.dense_sizes!r}"
            )
        if self.init_scheme not in INITS:
            raise ValueError(
                f"ConvClassifier: init_scheme must be one of {INITS}, got {self.init_scheme!r}"
            )
        if self.batch_size < 1:
            raise ValueError(f"ConvClassifier: batch_size must be >= 1, got {self.batch_size!r}")
        features = getattr(self.images, "shape", (None,))[-1]  # not an array when unflattened
        if len(self.image_shape) != 3 or (
            features is not None and math.prod(self.image_shape) != features
        ):
            raise ValueError(
                f"ConvClassifier: images of shape {self.images.shape} do not hold flattened "
                f"images of image_shape {self.image_shape} (height, width, channels)"
            )
        if min(self.pooled_shape[:2]) < 1:
            raise ValueError(
                f"ConvClassifier: {len(self.channels)} poolings shrink a {self.image_shape[:2]} "
                "image to nothing; use fewer conv layers"
            )

    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) after the last conv layer's pooling."""
        h, w = self.image_shape[:2]
        for _ in self.channels:
            h, w = h // POOL, w // POOL
        return (h, w, self.channels[-1])

    @property
    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each layer's kernel shape, by the layer's name in the params."""
        shapes, c_in = {}, self.image_shape[2]
        for i, c_out in enumerate(self.channels):
            shapes[f"conv_{i}"] = (KERNEL_SIZE, KERNEL_SIZE, c_in, c_out)
            c_in = c_out
        n_in = math.prod(self.pooled_shape)
        for j, n_out in enumerate(self.dense_sizes):
            shapes[f"dense_{j}"] = (n_in, n_out)
            n_in = n_out
        shapes["out"] = (n_in, self.num_classes)
        return shapes

    def sample(self, key: jax.Array) -> MLPInstance:
        del key
        return MLPInstance()

    def init(self, key: jax.Array, instance: MLPInstance | None = None) -> dict:
        del instance
        shapes = self.layer_shapes
        # One standard-normal draw cut into the kernels in layer order: one random-bits kernel to
        # compile instead of one per layer (seconds on a small CPU).
        sizes = [math.prod(shape) for shape in shapes.values()]
        draws = jnp.split(
            jax.random.normal(key, (sum(sizes),)), list(itertools.accumulate(sizes[:-1]))
        )
        params = {}
        for draw, (name, shape) in zip(draws, shapes.items()):
            fan_in = math.prod(shape[:-1])
            if self.init_scheme == "normal":
                std = self.init_scale
            else:  # He's gain 2 only for a ReLU layer, not for the output layer
                gain = 2.0 if self.init_scheme == "he" and name != "out" else 1.0
                std = self.init_scale * math.sqrt(gain / fan_in)
            layer = {"kernel": std * draw.reshape(shape), "bias": jnp.zeros(shape[-1:])}
            if self.batch_norm and name != "out":
                layer["scale"] = jnp.ones(shape[-1:])
            params[name] = layer
        return params

    def _activate(self, z: jax.Array, layer: dict, axes: tuple[int, ...]) -> jax.Array:
        """ReLU of the pre-activation, batch-normalized over ``axes`` when ``batch_norm``."""
        if self.batch_norm:
            mean = jnp.mean(z, axis=axes, keepdims=True)
            var = jnp.mean(jnp.square(z - mean), axis=axes, keepdims=True)
            z = layer["scale"] * (z - mean) * jax.lax.rsqrt(var + BATCH_NORM_EPS)
        return jax.nn.relu(z + layer["bias"])

    def logits(self, params: dict, images: jax.Array) -> jax.Array:
        """(B, num_classes) logits of a batch of flattened images (B, H*W*C)."""
        h = images.reshape((-1, *self.image_shape))
        conv, pool = (
            (_conv_im2col, _max_pool_reshape) if self.lowering == "matmul" else (_conv, _max_pool)
        )
        for i in range(len(self.channels)):
            layer = params[f"conv_{i}"]
            h = pool(self._activate(conv(h, layer["kernel"]), layer, axes=(0, 1, 2)))
        h = h.reshape(h.shape[0], -1)
        for j in range(len(self.dense_sizes)):
            layer = params[f"dense_{j}"]
            h = self._activate(h @ layer["kernel"], layer, axes=(0,))
        return h @ params["out"]["kernel"] + params["out"]["bias"]

    def minibatch(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = jax.random.randint(key, (self.batch_size,), 0, self.labels.shape[0])
        return self.images[idx], self.labels[idx]

    def loss(self, params: dict, instance: MLPInstance | None, key: jax.Array) -> jax.Array:
        del instance
        images, labels = self.minibatch(key)
        return cross_entropy(self.logits(params, images), labels)

    def full_loss(self, params: dict, images: jax.Array, labels: jax.Array) -> jax.Array:
        """Mean cross-entropy over a whole split (e.g. held-out data); with batch norm, the
        statistics are those of the whole split."""
        return cross_entropy(self.logits(params, images), labels)

    def error_rate(self, params: dict, images: jax.Array, labels: jax.Array) -> jax.Array:
        """Fraction of misclassified examples."""
        return jnp.mean(jnp.argmax(self.logits(params, images), axis=-1) != labels)


def _conv(h: jax.Array, kernel: jax.Array) -> jax.Array:
    """A SAME, stride-1 convolution of NHWC images with an HWIO kernel (XLA's convolution)."""
    return jax.lax.conv_general_dilated(
        h, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _conv_im2col(h: jax.Array, kernel: jax.Array) -> jax.Array:
    """:func:`_conv` as one matmul: the k x k shifted copies of the zero-padded image side by side
    (im2col, in the kernel's (row, column, input channel) order) times the (k k c_in, c_out)
    kernel."""
    k_h, k_w, c_in, c_out = kernel.shape
    n, height, width, _ = h.shape
    padded = jnp.pad(h, ((0, 0), ((k_h - 1) // 2, k_h // 2), ((k_w - 1) // 2, k_w // 2), (0, 0)))
    patches = jnp.concatenate(
        [padded[:, a : a + height, b : b + width, :] for a in range(k_h) for b in range(k_w)],
        axis=-1,
    )
    out = patches.reshape(-1, k_h * k_w * c_in) @ kernel.reshape(k_h * k_w * c_in, c_out)
    return out.reshape(n, height, width, c_out)


def _max_pool(h: jax.Array) -> jax.Array:
    """2x2 max pooling, stride 2, an odd last row and column dropped (``reduce_window``)."""
    return jax.lax.reduce_window(
        h, -jnp.inf, jax.lax.max, (1, POOL, POOL, 1), (1, POOL, POOL, 1), "VALID"
    )


def _max_pool_reshape(h: jax.Array) -> jax.Array:
    """:func:`_max_pool` as a maximum over the two axes of a reshape."""
    n, height, width, c = h.shape
    rows, cols = height // POOL, width // POOL
    h = h[:, : rows * POOL, : cols * POOL, :].reshape(n, rows, POOL, cols, POOL, c)
    return jnp.max(h, axis=(2, 4))


@register("conv")
@dataclasses.dataclass(frozen=True)
class ConvConfig(TaskConfig):
    """``task: {kind: conv}``: a conv net classifier (:class:`ConvClassifier`) on a 28x28 data set.

    ``dataset`` names a registered data set (``mnist``, ``fashion-mnist``), read from ``data_dir``
    (else ``$L2L_DATA_DIR``, a system package's directory or the cache directory, see
    :func:`l2l.data.load_dataset`); the optimizee trains on minibatches of ``split``. ``channels``
    gives one 3x3 conv layer (with 2x2 max pooling) per entry, ``dense_sizes`` one hidden fully
    connected layer per entry; ``init_scale`` multiplies the LeCun or He standard deviation
    (``init: lecun``, the default, or ``he``) or is the standard deviation (``init: normal``).
    ``lowering``: ``matmul`` (im2col, the fastest on CPU and under ``vmap``) or ``conv`` (XLA's
    convolution); the same function (:class:`ConvClassifier`).
    """

    kind: Literal["conv"] = "conv"
    channels: tuple[int, ...] = (16, 16, 16)
    dense_sizes: tuple[int, ...] = (32,)
    batch_norm: bool = False
    batch_size: int = field(128, ge=1)
    init: Literal["lecun", "he", "normal"] = "lecun"
    init_scale: float = field(1.0, gt=0)
    dataset: str = "mnist"
    data_dir: str | None = None
    split: Split = "train"
    lowering: Literal["matmul", "conv"] = "matmul"

    def __post_init__(self):
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be one or more positive sizes, got {self.channels}")
        if any(d < 1 for d in self.dense_sizes):
            raise ValueError(f"dense_sizes must be positive, got {list(self.dense_sizes)}")
        check_dataset(self.dataset)

    def build(self) -> ConvClassifier:
        return ConvClassifier(
            **load_split(self.dataset, self.data_dir, self.split),
            image_shape=(28, 28, 1),
            channels=tuple(self.channels),
            dense_sizes=tuple(self.dense_sizes),
            batch_norm=self.batch_norm,
            batch_size=self.batch_size,
            init_scheme=self.init,
            init_scale=self.init_scale,
            lowering=self.lowering,
        )
