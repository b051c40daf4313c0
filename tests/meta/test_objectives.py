"""The meta-objectives on a known trajectory, down to and below float32's smallest normal number."""

import jax
import jax.numpy as jnp
import numpy as np

from l2l.meta.objectives import LOG_OF_ZERO, OBJECTIVES, safe_log

TINY = float(np.finfo(np.float32).tiny)
# A run that shrinks f by 1e10 per step, then reaches the zero machine and exactly 0.
LOSSES = jnp.array([1.0, 1e-10, 1e-20, 1e-30, 2e-38, 0.0], jnp.float32)


def test_sum_and_final():
    np.testing.assert_allclose(OBJECTIVES["sum"](LOSSES), 1.0 + 1e-10, rtol=1e-6)
    assert float(OBJECTIVES["final"](LOSSES[:5])) == np.float32(2e-38)


def test_log_objectives_reward_progress_below_1e_30_and_down_to_0():
    logs = np.log([1.0, 1e-10, 1e-20, 1e-30, 2e-38])
    np.testing.assert_allclose(OBJECTIVES["log_sum"](LOSSES), logs.sum() + LOG_OF_ZERO, rtol=1e-5)
    # 2e-38 is below the old floor of 1e-30 and still scores its own log: -86.8, not -69.1.
    np.testing.assert_allclose(OBJECTIVES["log_final"](LOSSES[:5]), np.log(2e-38), rtol=1e-5)
    # A loss of exactly 0 scores log(2^-149) = -103.28, below every float32 loss that is not 0.
    np.testing.assert_allclose(OBJECTIVES["log_final"](LOSSES), -149 * np.log(2), rtol=1e-6)
    assert float(OBJECTIVES["log_final"](LOSSES)) < float(safe_log(jnp.float32(TINY)))


def test_log_gradients_are_exact_where_normal_and_finite_below():
    grad = np.asarray(jax.grad(OBJECTIVES["log_sum"])(LOSSES))
    np.testing.assert_allclose(grad[:5], 1 / np.array([1.0, 1e-10, 1e-20, 1e-30, 2e-38]), rtol=1e-5)
    assert grad[5] == 0.0  # a loss of exactly 0: nothing left to gain
    # A subnormal loss (or one the backend flushed to 0): the slope is at most 1 / tiny, finite.
    sub = jax.grad(lambda f: safe_log(f))(jnp.float32(1e-40))
    assert np.isfinite(sub) and 0 <= float(sub) <= 1 / TINY * 1.0001
    # Through f = x^2 at x = 2e-19 (f = 4e-38, just above tiny): d log f / dx = 2 / x = 1e19.
    slope = jax.grad(lambda x: safe_log(x * x))(jnp.float32(2e-19))
    np.testing.assert_allclose(slope, 1e19, rtol=1e-4)


def test_log_objectives_are_finite_on_a_whole_batch_of_zeros():
    zeros = jnp.zeros(4, jnp.float32)
    assert float(OBJECTIVES["log_sum"](zeros)) == np.float32(4 * LOG_OF_ZERO)
    assert np.all(np.asarray(jax.grad(OBJECTIVES["log_sum"])(zeros)) == 0)
