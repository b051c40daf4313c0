"""Shared fixtures for the optimizer tests: float64 mode and a fixed gradient sequence."""

import jax
import numpy as np
import optax
import pytest


@pytest.fixture
def x64():
    """Runs a test with float64 enabled in JAX, restoring the previous setting afterwards.

    The NumPy oracles compute in float64; comparing in float64 lets us hold the optimizers to 1e-6
    relative (the real gaps are ~1e-15) instead of loosening the tolerance to float32 rounding.
    """
    with jax.enable_x64(True):
        yield


@pytest.fixture
def grad_sequence():
    """30 random gradients on a dict pytree with two leaves of different shapes (NumPy float64).

    A few entries are exactly zero, to exercise the 0/0 corners of the adaptive rules.
    """
    rng = np.random.default_rng(0)
    sequence = []
    for _ in range(30):
        grads = {"w": rng.normal(size=(3, 2)), "b": rng.normal(scale=3.0, size=(4,))}
        grads["b"][0] = 0.0
        sequence.append(grads)
    return sequence


@pytest.fixture
def initial_params():
    return {"w": np.full((3, 2), 0.5), "b": np.arange(4.0)}


@pytest.fixture
def run_updates():
    """Returns run(opt, grad_sequence, params) -> list of NumPy update pytrees, one per step.

    The optimizer runs eagerly (no compilation per optimizer); parameters advance by each update.
    """

    def run(opt, grad_sequence, params):
        params = jax.tree.map(jax.numpy.asarray, params)
        state = opt.init(params)
        updates_seen = []
        for grads in grad_sequence:
            updates, state = opt.update(jax.tree.map(jax.numpy.asarray, grads), state, params)
            updates_seen.append(jax.tree.map(np.asarray, updates))
            params = optax.apply_updates(params, updates)
        return updates_seen

    return run


def _leafwise(rule, grad_sequence):
    """Applies a NumPy per-array recurrence to every leaf of a dict gradient sequence.

    ``rule`` is a generator function taking the leaf's gradient sequence and yielding one update per
    step; returns the list of update dicts.
    """
    keys = grad_sequence[0].keys()
    per_leaf = {k: list(rule([g[k] for g in grad_sequence])) for k in keys}
    return [{k: per_leaf[k][t] for k in keys} for t in range(len(grad_sequence))]


def _assert_trees_close(actual, expected, rtol=1e-6, atol=1e-12):
    """Asserts two lists (or single) pytrees of arrays are equal leaf by leaf within tolerances."""
    actual_leaves, actual_def = jax.tree.flatten(actual)
    expected_leaves, expected_def = jax.tree.flatten(expected)
    assert actual_def == expected_def
    for a, e in zip(actual_leaves, expected_leaves, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


# Helpers handed out as fixtures: with --import-mode=importlib a test module cannot import conftest.
@pytest.fixture
def leafwise():
    return _leafwise


@pytest.fixture
def assert_trees_close():
    return _assert_trees_close
