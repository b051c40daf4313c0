import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import learned
from l2l import unroll as unroll_lib
from l2l.learned import (
    FeatureConfig,
    LSTMOptimizerConfig,
    coordinatewise_optimizer,
    init_meta_params,
    lstm_optimizer,
)
from l2l.learned.features import identity
from l2l.tasks import Quadratic


def _params():
    return {"w": jnp.arange(6.0).reshape(2, 3) / 10, "b": (jnp.array([0.5, -1.0]), jnp.array(2.0))}


def test_stand_in_network_returning_minus_lr_g_reproduces_sgd_exactly():
    lr = 0.03
    stand_in = coordinatewise_optimizer(
        lambda carry, inputs: (carry, -lr * inputs[:, 0]),
        lambda n, dtype: (jnp.zeros((n,), dtype),),
        identity(),
    )
    task = Quadratic(dim=6)
    inst = task.sample(jax.random.key(0))
    keys = (jax.random.key(1), jax.random.key(2))
    ours = unroll_lib.loss_curve(stand_in, task, inst, *keys, 30)
    sgd = unroll_lib.loss_curve(optax.sgd(lr), task, inst, *keys, 30)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(sgd))
    # The same on a nested pytree, one step, checked by hand.
    p = _params()
    g = jax.tree.map(lambda a: a + 1.0, p)
    updates, _ = stand_in.update(g, stand_in.init(p), p)
    jax.tree.map(lambda u, gg: np.testing.assert_array_equal(u, -lr * gg), updates, g)


def test_lstm_matches_a_numpy_lstm_and_keeps_state_per_coordinate():
    cfg = LSTMOptimizerConfig(
        hidden_sizes=(3,),
        features=FeatureConfig(kind="identity"),
        output_scale=0.5,
        output_init_scale=0.3,
    )
    meta = init_meta_params(jax.random.key(0), cfg)
    opt = lstm_optimizer(meta, cfg)
    p = _params()
    state = opt.init(p)
    assert state.lstm[0][0].shape == (9, 3)  # 9 scalar parameters, hidden 3
    w = jax.tree.map(np.asarray, meta["params"])
    c = np.zeros((9, 3))
    h = np.zeros((9, 3))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(3):
        g = jax.tree.map(lambda a: a * (t + 1) - 0.3, p)
        updates, state = opt.update(g, state, p)
        x = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(g)])[:, None]
        cell = w["lstm_0"]

        def gate(n):
            return x @ cell["i" + n]["kernel"] + h @ cell["h" + n]["kernel"] + cell["h" + n]["bias"]

        i, f, gg, o = sig(gate("i")), sig(gate("f")), np.tanh(gate("g")), sig(gate("o"))
        c = f * c + i * gg
        h = o * np.tanh(c)
        out = 0.5 * (h @ w["output"]["kernel"] + w["output"]["bias"])[:, 0]
        flat = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(updates)])
        np.testing.assert_allclose(flat, out, rtol=1e-5, atol=1e-7)
    assert int(state.count) == 3


def test_composes_with_optax_chain_and_runs_under_jit_and_scan():
    cfg = LSTMOptimizerConfig(hidden_sizes=(4, 4), output_init_scale=0.5)
    meta = init_meta_params(jax.random.key(1), cfg)
    opt = lstm_optimizer(meta, cfg)
    chained = optax.chain(optax.clip_by_global_norm(1e6), opt)
    clipped = optax.chain(optax.clip_by_global_norm(1e-3), opt)
    p = _params()

    def run(o):
        def body(carry, g):
            s = carry
            u, s = o.update(jax.tree.map(lambda a: a * g, p), s, p)
            return s, jax.tree.leaves(u)[0]

        return jax.jit(lambda: jax.lax.scan(body, o.init(p), jnp.arange(1.0, 4.0))[1])()

    np.testing.assert_allclose(run(chained), run(opt), rtol=1e-6)
    # Clipping changes the input, so (through the log features) the output.
    assert not np.allclose(run(clipped), run(opt))


def test_weights_are_closed_over_so_meta_gradients_flow():
    cfg = LSTMOptimizerConfig(hidden_sizes=(4,))
    meta = init_meta_params(jax.random.key(2), cfg)
    p = _params()

    def meta_loss(mp):
        opt = lstm_optimizer(mp, cfg)
        u, _ = opt.update(p, opt.init(p), p)
        return sum(jnp.sum(x**2) for x in jax.tree.leaves(u))

    grads = jax.grad(meta_loss)(meta)
    assert float(optax.tree.norm(grads)) > 0
    assert jax.tree.structure(grads) == jax.tree.structure(meta)


def test_config_validation():
    with pytest.raises(ValueError, match="hidden_sizes"):
        LSTMOptimizerConfig(hidden_sizes=())
    assert learned.make_features(LSTMOptimizerConfig().features).num_inputs == 2
