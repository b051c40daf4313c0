"""Meta-objectives: how the optimizee losses of one unroll become one number to minimize."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

#: A meta-objective maps the losses f(theta_{s+1}), ..., f(theta_{s+U}) of a truncation to a scalar.
Objective = Callable[[jax.Array], jax.Array]

# The log variants keep a floor so that a loss of exactly 0 gives a finite value and gradient.
LOG_FLOOR = 1e-30


def summed(losses: jax.Array) -> jax.Array:
    """sum_t f(theta_t): every step weighted 1 (Andrychowicz et al., 2016, eq. 3 with w_t = 1)."""
    return jnp.sum(losses)


def final(losses: jax.Array) -> jax.Array:
    """f(theta_T): only the last loss of the unroll counts."""
    return losses[-1]


def log_summed(losses: jax.Array) -> jax.Array:
    """sum_t log f(theta_t): rewards relative progress equally at every scale."""
    return jnp.sum(jnp.log(jnp.maximum(losses, LOG_FLOOR)))


def log_final(losses: jax.Array) -> jax.Array:
    """log f(theta_T)."""
    return jnp.log(jnp.maximum(losses[-1], LOG_FLOOR))


OBJECTIVES: dict[str, Objective] = {
    "sum": summed,
    "final": final,
    "log_sum": log_summed,
    "log_final": log_final,
}
