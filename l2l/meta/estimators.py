"""Evolution-strategies estimates of the meta-gradient: antithetic ES and Persistent ES.

Truncated backpropagation (the trainer's default, ``estimator: tbptt``) differentiates each
truncation of U steps on its own: the effect of the meta-parameters theta on the state a truncation
starts from is cut by ``stop_gradient``, so its estimate is biased towards short-horizon behaviour,
and its memory grows with U. Evolution strategies need no backward pass at all (memory: the carried
state only, whatever U), and one of them is unbiased for the whole horizon.

Both perturb theta with antithetic Gaussian noise. For each pair j = 1..P of a task instance,
eps_j ~ N(0, sigma^2 I) in meta-parameter space; particle (+, j) unrolls the truncation with
theta + eps_j and particle (-, j) with theta - eps_j, each from *its own* carried state, and L_j^+,
L_j^- are their meta-objectives on this truncation (the same instance and minibatches for both).

- ``es`` (truncated antithetic ES): g = 1 / (2 sigma^2 P) sum_j eps_j (L_j^+ - L_j^-).
  The perturbation of earlier truncations is ignored, so, like TBPTT, it is unbiased only when the
  truncation is the whole horizon (then it estimates the gradient of the Gaussian-smoothed loss).
- ``pes`` (Persistent ES; Vicol, Metz & Sohl-Dickstein, 2021, "Unbiased Gradient Estimation in
  Unrolled Computation Graphs with Persistent Evolution Strategies", antithetic variant): every
  particle keeps the sum xi_j = eps_j^(1) + ... + eps_j^(k) of the perturbations it has been run
  with since the start of the horizon (reset to 0 there) and uses it in place of eps_j:
  g_k = 1 / (2 sigma^2 P) sum_j xi_j (L_j^+ - L_j^-). The state particle (+, j) starts truncation k
  from was produced with theta + eps_j^(1), ..., theta + eps_j^(k-1), so xi_j is the whole
  perturbation its loss depends on: E[g_k] is the exact gradient of
  E_eps[L_k(theta + eps^(1), ..., theta + eps^(k))], and the sum over the truncations of a horizon
  is an unbiased estimate of the gradient of the smoothed meta-loss of the whole horizon, which
  tends to the true one as sigma -> 0.

Everything here is for one task instance; the trainer ``vmap``s it over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

#: (meta_params, carried unroll state) -> (meta-objective of the truncation, new state, losses).
TruncationFn = Callable[[Any, Any], tuple[jax.Array, Any, jax.Array]]


class Particles(NamedTuple):
    """The ES particles of one task instance."""

    unroll: Any  # unroll states, leading axis 2P: (+, 1), ..., (+, P), (-, 1), ..., (-, P)
    accumulated: Any  # PES: xi, the meta-parameter pytree with leading axis P; ES: ()


def start(unroll_state, meta_params, pairs: int, persistent: bool) -> Particles:
    """2P particles all at ``unroll_state`` (the start of a horizon), with xi = 0 for PES."""
    unroll = jax.tree.map(lambda a: jnp.broadcast_to(a, (2 * pairs, *a.shape)), unroll_state)
    accumulated = ()
    if persistent:
        accumulated = jax.tree.map(lambda m: jnp.zeros((pairs, *m.shape), m.dtype), meta_params)
    return Particles(unroll, accumulated)


def perturbations(key: jax.Array, meta_params, pairs: int, sigma: float):
    """eps_1, ..., eps_P ~ N(0, sigma^2 I): the meta-parameter pytree with leading axis P.

    One draw of P x (number of meta-parameters) normals, cut into the pytree's leaves.
    """
    flat, unravel = ravel_pytree(meta_params)
    noise = sigma * jax.random.normal(key, (pairs, flat.size), flat.dtype)
    return jax.vmap(unravel)(noise)


def antithetic_gradient(
    truncation: TruncationFn,
    meta_params,
    particles: Particles,
    key: jax.Array,
    *,
    sigma: float,
    persistent: bool,
):
    """One truncation of (P)ES for one task instance (see the module docstring for the maths).

    Returns ``(gradient estimate, new particles, objectives (2P,), losses (2P, U))``.
    """
    pairs = jax.tree.leaves(particles.unroll)[0].shape[0] // 2
    eps = perturbations(key, meta_params, pairs, sigma)
    signed = jax.tree.map(lambda e: jnp.concatenate([e, -e]), eps)
    perturbed = jax.tree.map(lambda m, s: m[None] + s, meta_params, signed)
    objectives, unroll, losses = jax.vmap(truncation)(perturbed, particles.unroll)
    if persistent:
        xi = jax.tree.map(jnp.add, particles.accumulated, eps)
    else:
        xi = eps
    weight = (objectives[:pairs] - objectives[pairs:]) / (2 * sigma**2 * pairs)
    gradient = jax.tree.map(lambda x: jnp.tensordot(weight.astype(x.dtype), x, axes=1), xi)
    return gradient, Particles(unroll, xi if persistent else ()), objectives, losses
