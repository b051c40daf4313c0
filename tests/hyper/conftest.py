"""Shared fixtures of the hyperoptimizer tests: float64, and small problems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture
def x64():
    """float64 for the duration of a test (finite differences, exact recurrences, and modes that
    differ only by rounding)."""
    with jax.enable_x64(True):
        yield


def smooth_problem():
    """A smooth non-quadratic loss on a two-leaf pytree (full batch)."""
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(6, 4)))
    b = jnp.asarray(rng.normal(size=6))
    params = {"w": jnp.asarray(rng.normal(size=4)), "v": jnp.asarray([0.5, -1.0, 2.0])}

    def loss(p):
        return jnp.sum(jnp.tanh(a @ p["w"] - b) ** 2) + 0.1 * jnp.sum(p["v"] ** 4)

    return params, loss


def mlp_problem():
    """A 3-5-2 tanh MLP with a squared error on 8 fixed samples."""
    rng = np.random.default_rng(2)
    x, y = jnp.asarray(rng.normal(size=(8, 3))), jnp.asarray(rng.normal(size=(8, 2)))
    params = {
        "hidden": {"kernel": jnp.asarray(0.5 * rng.normal(size=(3, 5))), "bias": jnp.zeros(5)},
        "out": {"kernel": jnp.asarray(0.5 * rng.normal(size=(5, 2))), "bias": jnp.zeros(2)},
    }

    def loss(p):
        h = jnp.tanh(x @ p["hidden"]["kernel"] + p["hidden"]["bias"])
        return jnp.mean((h @ p["out"]["kernel"] + p["out"]["bias"] - y) ** 2)

    return params, loss


def quadratic_problem():
    """f(x) = ||W x - y||^2 in five dimensions, from x = 0."""
    rng = np.random.default_rng(3)
    w, y = jnp.asarray(rng.normal(size=(5, 5)) / 2), jnp.asarray(rng.normal(size=5))
    return jnp.zeros(5), lambda x: jnp.sum((w @ x - y) ** 2)


PROBLEMS = {"smooth": smooth_problem, "mlp": mlp_problem, "quadratic": quadratic_problem}


@pytest.fixture
def problems():
    """Name -> ``() -> (params, loss)``: ``smooth``, ``mlp``, ``quadratic``."""
    return PROBLEMS
