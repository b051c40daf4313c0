"""Random quadratics f(theta) = ||W theta - y||^2, the optimizee of Andrychowicz et al., 2016
(section 3.1), and their task kind ``quadratic``."""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register

DISTRIBUTIONS = ("normal", "uniform")


class QuadraticInstance(NamedTuple):
    """One random problem."""

    W: jax.Array  # (dim, dim) design matrix.
    y: jax.Array  # (dim,) target.


@struct.dataclass
class Quadratic:
    """The task family f(theta) = ||W theta - y||^2 with theta in R^dim.

    ``W`` and ``y`` are i.i.d. N(0, 1) (``distribution="normal"``, the paper's setup) or
    U[0, 1) (``distribution="uniform"``); the initial point is theta_0 ~ N(0, init_scale^2 I).
    The loss is deterministic, so the ``key`` of :meth:`loss` is ignored.

    ``condition_number`` kappa (None: the paper's i.i.d. ``W``) draws an ill-conditioned
    instance instead: ``W = U diag(s) V^T`` with ``U``, ``V`` random orthogonal matrices
    (:func:`random_rotation`) and singular values s_i = kappa^(-i / (2 (dim - 1))),
    i = 0 .. dim - 1, so the Hessian 2 W^T W has eigenvalues 2 s_i^2 from 2 down to 2 / kappa,
    in a random basis (no coordinate is privileged: a diagonal preconditioner cannot undo it);
    ``y`` ~ N(0, I).
    """

    dim: int = struct.field(pytree_node=False, default=10)
    distribution: str = struct.field(pytree_node=False, default="normal")
    init_scale: float = struct.field(pytree_node=False, default=1.0)
    condition_number: float | None = struct.field(pytree_node=False, default=None)

    def __post_init__(self) -> None:
        if self.condition_number is not None and not self.condition_number >= 1:
            raise ValueError(
                f"Quadratic: condition_number must be >= 1, got {self.condition_number!r}"
            )
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"Quadratic: dim must be a positive integer, got {self.dim!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"Quadratic: distribution must be one of {DISTRIBUTIONS}, got {self.distribution!r}"
            )
        if not self.init_scale > 0:
            raise ValueError(f"Quadratic: init_scale must be > 0, got {self.init_scale!r}")

    def sample(self, key: jax.Array) -> QuadraticInstance:
        if self.condition_number is not None:
            return self._ill_conditioned(key)
        k_w, k_y = jax.random.split(key)
        draw = jax.random.normal if self.distribution == "normal" else jax.random.uniform
        return QuadraticInstance(W=draw(k_w, (self.dim, self.dim)), y=draw(k_y, (self.dim,)))

    def singular_values(self) -> jax.Array:
        """The singular values of an ill-conditioned instance's ``W`` (largest first)."""
        kappa = float(self.condition_number or 1.0)
        exponents = jnp.arange(self.dim) / max(self.dim - 1, 1)
        return kappa ** (-0.5 * exponents)

    def _ill_conditioned(self, key: jax.Array) -> QuadraticInstance:
        k_u, k_v, k_y = jax.random.split(key, 3)
        u, v = random_rotation(k_u, self.dim), random_rotation(k_v, self.dim)
        w = (u * self.singular_values()) @ v.T
        return QuadraticInstance(W=w, y=jax.random.normal(k_y, (self.dim,)))

    def init(self, key: jax.Array, instance: QuadraticInstance) -> jax.Array:
        del instance
        return self.init_scale * jax.random.normal(key, (self.dim,))

    def loss(
        self, params: jax.Array, instance: QuadraticInstance, key: jax.Array | None = None
    ) -> jax.Array:
        del key
        residual = instance.W @ params - instance.y
        return jnp.sum(residual**2)


def random_rotation(key: jax.Array, dim: int) -> jax.Array:
    """A random orthogonal (dim, dim) matrix: the product of ``dim`` Householder reflections
    I - 2 v v^T along Gaussian directions v (Stewart, 1980, "The efficient generation of random
    orthogonal matrices"), in plain array operations. ``jnp.linalg.qr`` (a LAPACK call) would do
    it too, but XLA 0.10's CPU runtime hung, now and then, on programs that called it inside a
    batched unroll of the benchmark."""
    directions = jax.random.normal(key, (dim, dim))

    def reflect(q: jax.Array, v: jax.Array) -> tuple[jax.Array, None]:
        v = v / jnp.linalg.norm(v)
        return q - 2.0 * jnp.outer(q @ v, v), None

    q, _ = jax.lax.scan(reflect, jnp.eye(dim), directions)
    return q


@register("quadratic")
@dataclasses.dataclass(frozen=True)
class QuadraticConfig(TaskConfig):
    """``task: {kind: quadratic}``: random quadratics ||W theta - y||^2 (:class:`Quadratic`)."""

    kind: Literal["quadratic"] = "quadratic"
    dim: int = field(10, ge=1)
    distribution: Literal["normal", "uniform"] = "normal"
    init_scale: float = field(1.0, gt=0)
    condition_number: float | None = field(
        None, ge=1, help="the Hessian's condition number (None: the paper's i.i.d. W)"
    )

    def build(self) -> Quadratic:
        return Quadratic(
            dim=self.dim,
            distribution=self.distribution,
            init_scale=self.init_scale,
            condition_number=self.condition_number,
        )
