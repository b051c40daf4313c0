"""The separable quadratic of the zero-machine test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l.config import ConfigError, from_dict
from l2l.tasks import SeparableQuadratic, SeparableQuadraticConfig, TaskConfig


def test_loss_and_gradient_by_hand():
    task = SeparableQuadratic()
    instance = task.sample(jax.random.key(0))._replace(s=jnp.array([0.5, 1.5]))
    x = jnp.array([2.0, -1.0])
    np.testing.assert_allclose(task.loss(x, instance), 1.0 + 2.25)
    np.testing.assert_allclose(jax.grad(task.loss)(x, instance), [2 * 0.25 * 2, 2 * 2.25 * -1])
    # float32 underflow: (1.5 * 1e-19)^2 = 2.25e-38 is still normal; (1e-20)^2 is not.
    assert float(task.loss(jnp.array([0.0, 1e-19]), instance)) == pytest.approx(2.25e-38, rel=1e-5)


def test_sample_and_init_ranges():
    task = SeparableQuadraticConfig(dim=2).build()
    assert isinstance(task, SeparableQuadratic) and task.dim == 2
    keys = jax.random.split(jax.random.key(1), 2000)
    s = np.asarray(jax.vmap(task.sample)(keys).s)
    x0 = np.asarray(jax.vmap(lambda k: task.init(k, None))(keys))
    assert s.min() >= 0.5 and s.max() <= 1.5 and abs(s.mean() - 1.0) < 0.02
    assert x0.min() >= -1 and x0.max() <= 1 and abs(x0.mean()) < 0.03
    # Mean f(x0) = dim * E[s^2] E[x^2] = 2 * (13/12) * (1/3).
    other = jax.vmap(task.sample)(jax.random.split(jax.random.key(2), 2000))
    f0 = jax.vmap(task.loss)(jnp.asarray(x0), other)
    assert abs(float(jnp.mean(f0)) - 2 * 13 / 12 / 3) < 0.03


def test_config_errors_speak():
    with pytest.raises(ConfigError, match="scale_high .* is below scale_low"):
        from_dict(TaskConfig, {"kind": "separable_quadratic", "scale_low": 2.0, "scale_high": 1.0})
    with pytest.raises(ValueError, match="scale_low <= scale_high"):
        SeparableQuadratic(scale_low=2.0, scale_high=1.0)
