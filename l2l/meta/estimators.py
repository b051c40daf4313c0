"""Meta-gradient estimators, interchangeable behind one signature (:class:`Estimator`), registered
in :data:`ESTIMATORS` by the name a config's ``estimator:`` gives: truncated backpropagation
(``tbptt``) and two evolution strategies, antithetic ES (``es``) and Persistent ES (``pes``).

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

:func:`antithetic_gradient` is for one task instance; the ES estimators ``vmap`` it over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

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


# --------------------------------------------------------------------------- the registry


class Truncation(NamedTuple):
    """What an estimator may run of the current truncation (built by the meta-step).

    ``batch(meta_params, unroll, instances, streams) -> (mean objective, (unroll, losses))``:
    the truncation of the whole batch, differentiable with respect to ``meta_params`` (the
    architecture's fast path); ``one(meta_params, instance, ustate, stream) -> (objective, ustate,
    losses)``: the truncation of one instance (``vmap`` it for a batch).
    """

    batch: Callable
    one: Callable


class Estimator(Protocol):
    """A meta-gradient estimator: what it carries per task instance, and the estimate.

    ``start(ustate, meta_params) -> (unroll, extra)``: at the start of a horizon, from one
    instance's fresh unroll state, what the estimator carries for that instance (its unroll
    state(s), and anything else, e.g. PES's accumulated perturbations; ``()`` if nothing).
    ``gradient(truncation, meta_params, unroll, extra, instances, streams, key) -> (gradient,
    (unroll, extra), mean objective, losses)``: the estimate for one truncation of the batch, and
    what carries to the next truncation (no gradient flows across the boundary).
    """

    def start(self, ustate: Any, meta_params: Any) -> tuple[Any, Any]: ...

    def gradient(
        self, truncation: Truncation, meta_params, unroll, extra, instances, streams, key
    ) -> tuple[Any, tuple[Any, Any], jax.Array, jax.Array]: ...


class TruncatedBackprop(NamedTuple):
    """``tbptt``: the exact gradient of each truncation's objective, the state it starts from taken
    as a constant (biased towards short horizons; memory grows with the truncation)."""

    def start(self, ustate, meta_params):
        del meta_params
        return ustate, ()

    def gradient(self, truncation, meta_params, unroll, extra, instances, streams, key):
        del extra, key
        (loss, (unroll, losses)), grads = jax.value_and_grad(truncation.batch, has_aux=True)(
            meta_params, unroll, instances, streams
        )
        return grads, (jax.lax.stop_gradient(unroll), ()), loss, losses


class AntitheticES(NamedTuple):
    """``es`` (``persistent=False``) and ``pes`` (``persistent=True``): see the module docstring."""

    sigma: float
    pairs: int
    persistent: bool

    def start(self, ustate, meta_params):
        particles = start(ustate, meta_params, self.pairs, self.persistent)
        return particles.unroll, particles.accumulated

    def gradient(self, truncation, meta_params, unroll, extra, instances, streams, key):
        def one(instance, particle_states, accumulated, stream, k):
            def run(mp, ustate):
                return truncation.one(mp, instance, ustate, stream)

            return antithetic_gradient(
                run,
                meta_params,
                Particles(particle_states, accumulated),
                k,
                sigma=self.sigma,
                persistent=self.persistent,
            )

        keys = jax.random.split(key, jax.tree.leaves(streams)[0].shape[0])
        grads, particles, objectives, losses = jax.vmap(one)(
            instances, unroll, extra, streams, keys
        )
        grads = jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)
        return grads, (particles.unroll, particles.accumulated), jnp.mean(objectives), losses


#: name -> factory ``(es_sigma, es_pairs) -> Estimator``; a new estimator registers here.
ESTIMATORS: dict[str, Callable[[float, int], Estimator]] = {
    "tbptt": lambda sigma, pairs: TruncatedBackprop(),
    "es": lambda sigma, pairs: AntitheticES(sigma, pairs, persistent=False),
    "pes": lambda sigma, pairs: AntitheticES(sigma, pairs, persistent=True),
}
