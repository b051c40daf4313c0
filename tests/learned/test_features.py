import math

import jax.numpy as jnp
import numpy as np
import pytest

from l2l.learned import FeatureConfig, make_features
from l2l.learned.features import identity, log_sign, scaled


def test_log_sign_on_both_sides_of_the_threshold():
    p = 10.0
    threshold = math.exp(-p)  # 4.54e-5
    g = jnp.array([3.0, -0.5, 1e-3, -1e-4, 2e-5, -4e-5, 0.0, 1e-30], jnp.float32)
    inputs, _, scale = log_sign(p).apply(g, ())
    expected = np.array(
        [
            [math.log(3.0) / 10, 1.0],  # 0.10986
            [math.log(0.5) / 10, -1.0],  # -0.06931
            [math.log(1e-3) / 10, 1.0],  # -0.69078
            [math.log(1e-4) / 10, -1.0],  # -0.92103 (1e-4 >= e^-10)
            [-1.0, math.exp(10) * 2e-5],  # below e^-10: (-1, e^p g) = (-1, 0.44053)
            [-1.0, -math.exp(10) * 4e-5],  # (-1, -0.88106)
            [-1.0, 0.0],
            [-1.0, math.exp(10) * 1e-30],
        ]
    )
    assert 1e-4 > threshold > 4e-5
    np.testing.assert_allclose(np.asarray(inputs), expected, rtol=1e-5, atol=1e-7)
    assert float(scale) == 1.0


def test_log_sign_other_p_and_exact_threshold():
    inputs, _, _ = log_sign(5.0).apply(jnp.array([math.exp(-5.0), 0.1]), ())
    np.testing.assert_allclose(
        np.asarray(inputs), [[-1.0, 1.0], [math.log(0.1) / 5, 1.0]], rtol=1e-5
    )


def test_identity_and_scale():
    g = jnp.array([2.0, -3.0])
    np.testing.assert_array_equal(identity().apply(g, ())[0], [[2.0], [-3.0]])
    np.testing.assert_allclose(scaled(0.1).apply(g, ())[0], [[0.2], [-0.3]], rtol=1e-6)


def test_feature_registry():
    assert make_features(FeatureConfig(kind="log_sign", p=3.0)).num_inputs == 2
    assert make_features(FeatureConfig(kind="identity")).num_inputs == 1
    with pytest.raises(ValueError, match="unknown feature kind 'nope'; known: "):
        make_features(FeatureConfig(kind="nope"))


def test_moments_features_against_a_numpy_recurrence_and_scale_invariance():
    from l2l.learned.features import moments

    feats = moments((0.5, 0.9), 0.99, eps=1e-12, p=10.0)
    rng = np.random.default_rng(0)
    gs = rng.normal(size=(5, 3))
    state = feats.init(jnp.zeros(3))
    m = np.zeros((2, 3))
    v = np.zeros(3)
    for t, g in enumerate(gs, start=1):
        inputs, state, scale = feats.apply(jnp.asarray(g, jnp.float32), state)
        m = np.array([[0.5], [0.9]]) * m + (1 - np.array([[0.5], [0.9]])) * g
        v = 0.99 * v + 0.01 * g**2
        r = np.sqrt(v / (1 - 0.99**t)) + 1e-12
        expected = np.column_stack(
            [g / r, m[0] / (1 - 0.5**t) / r, m[1] / (1 - 0.9**t) / r, np.log10(r) / 10]
        )
        np.testing.assert_allclose(np.asarray(inputs), expected, rtol=1e-4, atol=1e-6)
        assert float(scale) == 1.0
    # At t = 1 every normalized input is sign(g): the first step is scale-free.
    first, _, _ = feats.apply(jnp.array([1e-6, -3e2, 5.0]), feats.init(jnp.zeros(3)))
    np.testing.assert_allclose(
        np.asarray(first[:, :3]), [[1, 1, 1], [-1, -1, -1], [1, 1, 1]], rtol=1e-5
    )
    # Gradients 1000x larger: the same inputs except the log-scale one (shifted by 3/p).
    state_a, state_b = feats.init(jnp.zeros(3)), feats.init(jnp.zeros(3))
    for g in gs:
        a, state_a, _ = feats.apply(jnp.asarray(g, jnp.float32), state_a)
        b, state_b, _ = feats.apply(jnp.asarray(1000 * g, jnp.float32), state_b)
    np.testing.assert_allclose(np.asarray(b[:, :3]), np.asarray(a[:, :3]), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(b[:, 3] - a[:, 3]), 0.3, rtol=1e-4)
