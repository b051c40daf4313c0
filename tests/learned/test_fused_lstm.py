import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned
from l2l.learned import FeatureConfig, LSTMOptimizerConfig, fused_lstm


def _run(optimizer, grads):
    """The updates of ``optimizer`` fed the gradients ``grads[0], grads[1], ...``; final state."""
    params = jnp.zeros(grads.shape[1:], grads.dtype)

    def body(state, g):
        u, state = optimizer.update(g, state, params)
        return state, u

    state, updates = jax.lax.scan(body, optimizer.init(params), grads)
    return updates, state


def test_fused_lstm_is_the_flax_lstm_optimizer():
    """Same updates, same state step after step, and the same meta-gradient with respect to every
    flax parameter as learned.lstm_optimizer (float64; two layers of different sizes, so that a
    mix-up of gates, layers or the [x, h] order shows)."""
    with jax.enable_x64(True):
        cfg = LSTMOptimizerConfig(
            hidden_sizes=(20, 5), features=FeatureConfig(kind="log_sign"), output_init_scale=0.5
        )
        meta = jax.tree.map(
            lambda a: a.astype(jnp.float64), learned.init_meta_params(jax.random.key(0), cfg)
        )
        grads = jax.random.normal(jax.random.key(1), (4, 7), jnp.float64)

        @jax.jit
        def both(mp):
            def one(make):
                updates, state = _run(make(mp, cfg), grads)
                meta_grad = jax.grad(lambda m: jnp.sum(_run(make(m, cfg), grads)[0] ** 2))(mp)
                return updates, state, meta_grad

            return one(fused_lstm.fused_lstm_optimizer), one(learned.lstm_optimizer)

        ours, theirs = both(meta)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14), ours, theirs
        )


def test_bfloat16_matmuls_stay_within_bfloat16_rounding():
    cfg = LSTMOptimizerConfig(hidden_sizes=(20, 20), output_init_scale=0.5)
    meta = learned.init_meta_params(jax.random.key(0), cfg)
    grads = jax.random.normal(jax.random.key(1), (5, 64))
    run = jax.jit(
        lambda dtype: _run(fused_lstm.fused_lstm_optimizer(meta, cfg, dtype), grads),
        static_argnums=0,
    )
    exact, _ = run("float32")
    rounded, state = run("bfloat16")
    assert state.lstm[0][0].dtype == jnp.float32  # the carry stays float32
    scale = float(jnp.max(jnp.abs(exact)))
    error = float(jnp.max(jnp.abs(rounded - exact)))
    # bfloat16 keeps 8 significant bits (relative rounding 2^-9 ~ 2e-3) of every matmul operand.
    assert 0 < error < 2e-2 * scale


def test_fused_lstm_rejects_other_meta_parameters():
    cfg = LSTMOptimizerConfig(hidden_sizes=(3, 3))
    meta = learned.init_meta_params(jax.random.key(0), LSTMOptimizerConfig(hidden_sizes=(3,)))
    with pytest.raises(ValueError, match="not those of a learned.CoordinatewiseLSTM"):
        fused_lstm.fused_lstm_optimizer(meta, cfg)
    with pytest.raises(ValueError, match="matmul_dtype"):
        fused_lstm.fused_lstm_optimizer(meta, LSTMOptimizerConfig(hidden_sizes=(3,)), "float16")
