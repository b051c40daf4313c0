"""Meta-objectives: how the optimizee losses of one unroll become one number to minimize.

The log objectives reward relative progress equally at every scale, down to and below float32's
smallest normal number (the "zero machine", ``jnp.finfo(jnp.float32).tiny`` ~ 1.18e-38). Their
logarithm is :func:`safe_log`: exact for every positive loss, a fixed finite value for a loss of
exactly 0 (one that underflowed), and a gradient that stays finite in float32 even where 1 / f
would overflow.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

#: A meta-objective maps the losses f(theta_{s+1}), ..., f(theta_{s+U}) of a truncation to a scalar.
Objective = Callable[[jax.Array], jax.Array]

#: float32's smallest positive (subnormal) number, 2^-149 ~ 1.4e-45: a loss of 0 counts as this.
LOG_FLOOR = float(np.float32(2.0**-149))
#: log(LOG_FLOOR) = -149 log 2 ~ -103.28, the value of :func:`safe_log` at f <= 0.
LOG_OF_ZERO = -149.0 * float(np.log(2.0))
#: The smallest denominator of the gradient 1 / f: float32's smallest normal number.
GRAD_FLOOR = float(np.finfo(np.float32).tiny)


@jax.custom_jvp
def safe_log(f: jax.Array) -> jax.Array:
    """log f for f > 0 (subnormals included, where the backend keeps them); LOG_OF_ZERO at f <= 0.

    The derivative is 1 / max(f, tiny) for f > 0 and 0 at f <= 0, with tiny float32's smallest
    normal number: exact wherever f is normal, and finite (at most 1 / tiny ~ 8.5e37) below, where
    the true 1 / f overflows float32. Every value is at least LOG_OF_ZERO, so a loss that
    underflows to exactly 0 scores below every loss that did not (XLA on CPU flushes float32
    subnormals to 0, so there a loss below tiny is 0).
    """
    positive = f > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, f, 1)), LOG_OF_ZERO).astype(f.dtype)


@safe_log.defjvp
def _safe_log_jvp(primals, tangents):
    (f,), (df,) = primals, tangents
    slope = jnp.where(f > 0, 1 / jnp.maximum(f, GRAD_FLOOR), 0).astype(f.dtype)
    return safe_log(f), slope * df


def summed(losses: jax.Array) -> jax.Array:
    """sum_t f(theta_t): every step weighted 1 (Andrychowicz et al., 2016, eq. 3 with w_t = 1)."""
    return jnp.sum(losses)


def final(losses: jax.Array) -> jax.Array:
    """f(theta_T): only the last loss of the unroll counts."""
    return losses[-1]


def log_summed(losses: jax.Array) -> jax.Array:
    """sum_t log f(theta_t) (with :func:`safe_log`): rewards relative progress equally at every
    scale, and keeps rewarding it after the loss has passed any target."""
    return jnp.sum(safe_log(losses))


def log_final(losses: jax.Array) -> jax.Array:
    """log f(theta_T) (with :func:`safe_log`)."""
    return safe_log(losses[-1])


OBJECTIVES: dict[str, Objective] = {
    "sum": summed,
    "final": final,
    "log_sum": log_summed,
    "log_final": log_final,
}
