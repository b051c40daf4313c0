r"""Wu et al.'s noisy quadratic and its closed forms: the task kind ``noisy_quadratic``.

Wu, Ren, Liao & Grosse (ICLR 2018, section 3) study the short-horizon bias on a separable quadratic
whose minibatch loss is

.. math::
  f(\theta; c) = \tfrac12 \sum_i h_i (\theta_i - c_i)^2, \qquad c_i \sim N(0, \sigma_i^2),

so the stochastic gradient :math:`h_i(\theta_i - c_i)` is the true one plus noise of variance
:math:`v_i = h_i^2\sigma_i^2`, and SGD's second moment :math:`s_i = E[\theta_i^2]` follows the
linear recurrence :math:`s_i \leftarrow (1 - \alpha h_i)^2 s_i + \alpha^2 v_i`. Its training loss
(the loss without the noise's constant) is :math:`L(\theta) = \frac12 \sum_i h_i \theta_i^2`.
The configured spectrum follows the noisy quadratic model of the same group (Zhang et al.,
NeurIPS 2019): :math:`h_i = i^{-p}` and gradient noise of covariance proportional to the
curvature, :math:`v_i = \nu h_i`, with :math:`\theta_0 \sim N(0, s^2 I)`.

References:
  Wu, Ren, Liao & Grosse, *Understanding Short-Horizon Bias in Stochastic Meta-Optimization*,
  ICLR 2018; Zhang, Li, Nado, Martens, Sachdeva, Dahl, Shallue & Grosse, *Which Algorithmic
  Choices Matter at Which Batch Sizes? Insights from a Noisy Quadratic Model*, NeurIPS 2019.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register


class NoisyQuadraticInstance(NamedTuple):
    """The noisy quadratic has no random structure of its own: its randomness is the initial point
    and the noise of each minibatch. The empty instance keeps the task contract uniform."""


@struct.dataclass
class NoisyQuadratic:
    r"""Wu et al.'s noisy quadratic: minibatch loss :math:`\frac12 \sum_i h_i (\theta_i - c_i)^2`
    with :math:`c_i = \sigma_i \xi_i`, :math:`\xi_i \sim N(0, 1)` drawn from the minibatch key.

    ``curvature`` (:math:`h`) and ``noise_sd`` (:math:`\sigma`) are arrays (pytree leaves); the
    initial point is :math:`\theta_0 \sim N(0, \text{init\_scale}^2 I)`.
    """

    curvature: jax.Array  # h_i, (dim,)
    noise_sd: jax.Array  # sigma_i, (dim,): the gradient noise's variance is (h_i sigma_i)^2
    init_scale: float = struct.field(pytree_node=False, default=1.0)

    def sample(self, key: jax.Array) -> NoisyQuadraticInstance:
        del key
        return NoisyQuadraticInstance()

    def init(self, key: jax.Array, instance: NoisyQuadraticInstance | None = None) -> jax.Array:
        del instance
        return self.init_scale * jax.random.normal(key, self.curvature.shape)

    def targets(self, key: jax.Array) -> jax.Array:
        """The minibatch's :math:`c = \\sigma \\xi`."""
        return self.noise_sd * jax.random.normal(key, self.curvature.shape)

    def loss(self, params: jax.Array, instance: Any, key: jax.Array) -> jax.Array:
        del instance
        return 0.5 * jnp.sum(self.curvature * (params - self.targets(key)) ** 2)

    def training_loss(self, params: jax.Array, instance: Any = None) -> jax.Array:
        r""":math:`L(\theta) = \frac12 \sum_i h_i \theta_i^2`: the loss without the noise's
        constant :math:`\frac12 \sum_i h_i \sigma_i^2` (the task protocol's whole-training-set
        loss)."""
        del instance
        return 0.5 * jnp.sum(self.curvature * params**2)


def curvature(dim: int, power: float) -> np.ndarray:
    """:math:`h_i = i^{-p}`, i = 1..dim (float64)."""
    return np.arange(1, dim + 1, dtype=np.float64) ** (-power)


def gradient_noise_variance(h: np.ndarray, noise: float) -> np.ndarray:
    """:math:`v_i = \\nu h_i`: the gradient noise's covariance proportional to the curvature."""
    return noise * h


def expected_loss_fixed(
    h: np.ndarray, v: np.ndarray, s0: float, alphas: Any, steps: int
) -> np.ndarray:
    """:math:`E[L(\\theta_T)]` of SGD with each fixed step size of ``alphas`` (float64), by the
    recurrence :math:`s \\leftarrow (1 - \\alpha h)^2 s + \\alpha^2 v` from :math:`s = s_0`."""
    alphas = np.asarray(alphas, np.float64)[:, None]
    s = np.full((alphas.shape[0], h.size), s0, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            s = (1 - alphas * h) ** 2 * s + alphas**2 * v
        loss = 0.5 * np.sum(h * s, axis=1)
    return np.where(np.isfinite(loss), loss, np.inf)


def greedy_schedule(
    h: np.ndarray, v: np.ndarray, s0: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Wu et al.'s greedy-optimal schedule in expectation: at each step the step size that
    minimizes :math:`E[L]` after it, :math:`\\alpha_t = \\sum h^2 s / \\sum (h^3 s + h v)`.

    Returns the step sizes and :math:`E[L]` after each step (float64 arrays of ``steps``)."""
    s = np.full(h.size, s0, np.float64)
    alphas, losses = np.empty(steps), np.empty(steps)
    for t in range(steps):
        alpha = np.sum(h**2 * s) / np.sum(h**3 * s + h * v)
        s = (1 - alpha * h) ** 2 * s + alpha**2 * v
        alphas[t], losses[t] = alpha, 0.5 * np.sum(h * s)
    return alphas, losses


@register("noisy_quadratic")
@dataclasses.dataclass(frozen=True)
class NoisyQuadraticConfig(TaskConfig):
    """``task: {kind: noisy_quadratic}``: :math:`h_i = i^{-p}` (``curvature_power``), gradient
    noise of variance :math:`\nu h_i` (``noise``), :math:`\theta_0 \\sim N(0, s^2 I)`
    (``init_scale``)."""

    kind: Literal["noisy_quadratic"] = "noisy_quadratic"
    dim: int = field(1000, ge=1, help="the number of coordinates")
    curvature_power: float = field(1.0, ge=0, help="h_i = i^-p")
    noise: float = field(0.1, ge=0, help="nu: the gradient noise's variance is nu h_i")
    init_scale: float = field(1.0, gt=0, help="theta_0 ~ N(0, init_scale^2 I)")

    def build(self) -> NoisyQuadratic:
        r"""The task (float32 arrays): :math:`\sigma_i = \sqrt{v_i} / h_i`, so that
        :math:`h_i \sigma_i = \sqrt{v_i}`."""
        h = curvature(self.dim, self.curvature_power)
        sigma = np.sqrt(gradient_noise_variance(h, self.noise)) / h
        return NoisyQuadratic(
            jnp.asarray(h, jnp.float32), jnp.asarray(sigma, jnp.float32), init_scale=self.init_scale
        )

    def describe(self) -> str:
        spectrum = "1/i" if self.curvature_power == 1 else f"i^-{self.curvature_power:g}"
        return (
            f"noisy quadratic, d = {self.dim}, h_i = {spectrum}, gradient noise variance "
            f"{self.noise:g} h_i, theta_0 ~ N(0, {self.init_scale:g}^2 I)"
        )
