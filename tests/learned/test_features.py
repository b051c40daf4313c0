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
