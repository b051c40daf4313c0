"""The scale-free features on hand-computed inputs, gradients at 1e-30 and 0 included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l.config import ConfigError, from_dict
from l2l.learned import FeatureConfig, LSTMOptimizerConfig, coordinatewise_optimizer, lstm_optimizer
from l2l.learned.features import make_features, scale_free
from l2l.tasks import SeparableQuadraticConfig
from l2l.unroll import instance_keys, run_optimizer

ALL = ("ratio", "signed_ratio", "log_ratio", "adaptive_log", "update_sign")
TINY = float(np.finfo(np.float32).tiny)


def two_steps(output_by, g0, g1, d0):
    """Features at t = 0 and t = 1, with the update d0 (multiplier d0 / scale0) between."""
    f = scale_free(ALL, output_by, floor_decay=0.5, log_decades=40.0)
    state = f.init(jnp.zeros(len(g0)))
    x0, state, s0 = f.apply(jnp.asarray(g0, jnp.float32), state)
    d0 = jnp.asarray(d0, jnp.float32)
    multiplier = jnp.where(s0 != 0, d0 / jnp.where(s0 != 0, s0, 1), 0)
    state = f.observe(d0, multiplier, state)
    x1, state, s1 = f.apply(jnp.asarray(g1, jnp.float32), state)
    return np.asarray(x0), np.asarray(s0), np.asarray(x1), np.asarray(s1), state


def test_first_step_inputs_and_scales():
    # Columns: ratio, signed_ratio, log10|r| / 40, sign r, adaptive log, update sign.
    x0, s0, *_ = two_steps("prev_grad", [2.0, -1e-30, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(
        x0,
        [[1, 0, -1, 0, 0, 0], [-1, 0, -1, 0, 0, 0], [0, 0, -1, 0, -1, 0]],
    )
    np.testing.assert_allclose(s0, [2.0, 1e-30, 0.0], rtol=1e-6)


def test_second_step_inputs_by_hand():
    g0, g1, d0 = [2.0, 1e-30, 0.0, 4.0], [-0.5, 1e-33, 3.0, 0.0], [-1.0, -5e-31, 0.0, -2.0]
    _, _, x1, _, state = two_steps("prev_update", g0, g1, d0)
    # ratio g1 / |g0|, signed g1 / g0 (0 where g0 = 0)
    np.testing.assert_allclose(x1[:, 0], [-0.25, 1e-3, 0.0, 0.0], rtol=1e-5)
    np.testing.assert_allclose(x1[:, 1], [-0.25, 1e-3, 0.0, 0.0], rtol=1e-5)
    # log10|r| / 40 ((-1) where r = 0) and sign r
    np.testing.assert_allclose(x1[:, 2], [np.log10(0.25) / 40, -3 / 40, -1, -1], rtol=1e-5)
    np.testing.assert_allclose(x1[:, 3], [-1, 1, 0, 0])
    # adaptive floor: m1 = min(log10|g0|, log10|g1|), floor1 = floor0 + 0.5 (m1 - floor0); it
    # starts at the first nonzero gradient, and a zero gradient leaves it where it was.
    floor1 = [0.0, (-30 - 33) / 2, np.log10(3.0), np.log10(4.0)]
    np.testing.assert_allclose(np.asarray(state.floor), floor1, rtol=1e-5, atol=1e-6)
    adaptive = [
        np.log10(0.5) / 40,  # floor1 = log10 2 + 0.5 (log10 0.5 - log10 2) = 0
        (-33 - floor1[1]) / 40,  # -1.5 decades under the floor
        0.0,  # the first nonzero gradient of that coordinate starts its floor
        -1.0,  # a zero gradient
    ]
    np.testing.assert_allclose(x1[:, 4], adaptive, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x1[:, 5], [-1, -1, 0, -1])


def test_output_scales_by_hand():
    g0, g1, d0 = [2.0, 1e-30, 0.0], [-0.5, 1e-33, 3.0], [-1.0, -5e-31, 0.0]
    _, _, _, s1, _ = two_steps("prev_grad", g0, g1, d0)
    np.testing.assert_allclose(s1, [2.0, 1e-30, 0.0], rtol=1e-6)
    _, _, _, s1, _ = two_steps("prev_update", g0, g1, d0)
    np.testing.assert_allclose(s1, [1.0, 5e-31, 0.0], rtol=1e-6)
    # prev_lr: -eta0 * g1 with eta0 = -d0 / g0 = (0.5, 0.5, kept at 1 where g0 = 0)
    _, s0, _, s1, state = two_steps("prev_lr", g0, g1, d0)
    np.testing.assert_allclose(s0, [-2.0, -1e-30, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(state.prev_lr), [0.5, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(s1, [0.25, -5e-34, -3.0], rtol=1e-5)
    _, _, _, s1, _ = two_steps("one", g0, g1, d0)
    np.testing.assert_allclose(s1, [1, 1, 1])


@pytest.mark.parametrize("a", [1e-30, 1e-10, 1e10])
def test_inputs_do_not_depend_on_the_scale(a):
    g = np.array([[0.7, -1.3], [0.2, 0.1], [-0.01, 0.002], [1e-4, 1e-5]], np.float32)
    f = scale_free(ALL, "prev_lr")

    def run(scale):
        state, xs, scales = f.init(jnp.zeros(2)), [], []
        for t in range(len(g)):
            x, state, s = f.apply(jnp.asarray(scale * g[t], jnp.float32), state)
            state = f.observe(-0.3 * s, jnp.full(2, 0.3, jnp.float32), state)
            xs.append(np.asarray(x))
            scales.append(np.asarray(s))
        return np.stack(xs), np.stack(scales)

    x1, s1 = run(1.0)
    xa, sa = run(a)
    np.testing.assert_allclose(xa, x1, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(sa, a * s1, rtol=2e-5)


def secant_network(carry, inputs):
    """net(r) = 1 / (1 - r) after a first step of learning rate 0.4: the secant method."""
    r = inputs[:, 0]
    return jnp.ones_like(carry), jnp.where(carry, 1 / (1 - r), 0.4)


def test_secant_on_prev_lr_is_exact_on_a_separable_quadratic():
    optimizer = coordinatewise_optimizer(
        secant_network, lambda n, dtype: jnp.zeros((n,), bool), scale_free(("signed_ratio",))
    )
    task = SeparableQuadraticConfig(dim=2).build()
    curves = run_optimizer(optimizer, task, instance_keys(0, 1, 100), 5).astype(np.float64)
    # Step 1 is gradient descent; step 2 lands on x = 0 up to float32 rounding (f ~ 1e-15);
    # steps 3 and 4 each multiply f by ~1e-14 more: the zero machine by step 4.
    assert np.all(curves[:, 2] < 1e-12)
    assert np.all(curves[:, 4] <= TINY)


def test_meta_gradients_stay_finite_through_tiny_and_zero_gradients():
    cfg = LSTMOptimizerConfig(hidden_sizes=(4,), features=FeatureConfig(kind="scale_free"))
    from l2l.learned import init_meta_params

    meta_params = init_meta_params(jax.random.key(0), cfg)

    def meta_loss(mp, x0):
        opt = lstm_optimizer(mp, cfg)
        x, state, total = x0, opt.init(x0), 0.0
        for _ in range(4):
            g = jax.grad(lambda x: jnp.sum(x**2))(x)  # second derivatives kept
            d, state = opt.update(g, state)
            x = x + d
            total = total + jnp.sum(x * 1e15)
        return total

    grads = jax.grad(meta_loss)(meta_params, jnp.array([1e-30, 0.0, 1.0, -1e-20]))
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(grads))
    assert any(np.abs(np.asarray(leaf)).max() > 0 for leaf in jax.tree.leaves(grads))


def test_config_defaults_keep_the_saved_behaviour_and_errors_name_the_input():
    assert FeatureConfig().kind == "log_sign"
    assert make_features(FeatureConfig()).num_inputs == 2
    assert make_features(FeatureConfig(kind="scale_free")).num_inputs == 4
    with pytest.raises(ConfigError, match="unknown scale_free input 'ratios'"):
        from_dict(FeatureConfig, {"kind": "scale_free", "inputs": ["ratios"]})
