"""The (P)ES meta-gradient estimators against full backpropagation through the whole horizon.

ES and PES estimate the gradient of the Gaussian-smoothed meta-loss E_eps[L(theta + eps)]; its
difference from the true gradient is O(sigma^2) times third derivatives of L. With sigma = 1e-4 in
float64 that bias is ~1e-8 relative (far below the statistical error of a few thousand samples),
while float64 keeps L(theta + eps) - L(theta - eps) ~ 1e-4 |g| exact to ~1e-12: the comparison with
the exact gradient of L is then a test of the estimator alone. The sample standard error makes it
a z-test; the random draws are seeded, so the test is deterministic.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import meta as meta_lib
from l2l.learned import FeatureConfig, LSTMOptimizerConfig
from l2l.meta import estimators
from l2l.tasks import Quadratic, QuadraticConfig

SIGMA = 1e-4


def tiny_config(**overrides) -> meta_lib.MetaTrainConfig:
    """A 1x3 LSTM on 2-d quadratics: small enough to draw thousands of estimates in seconds."""
    base = {
        "task": QuadraticConfig(dim=2),
        "optimizer": LSTMOptimizerConfig(
            hidden_sizes=(3,), features=FeatureConfig(kind="identity"), output_init_scale=0.3
        ),
        "meta_steps": 3,
        "eval_instances": 4,
    }
    base.update(overrides)
    return meta_lib.MetaTrainConfig(**base)


def to64(tree):
    return jax.tree.map(
        lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
    )


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def _trainer(**overrides):
    cfg = tiny_config(second_derivatives=True, batch_size=1, **overrides)
    tr = meta_lib.make_trainer(cfg, Quadratic(dim=cfg.task.dim), jit=False)
    return cfg, tr, to64(tr.init())


def _full_bptt_gradient(horizon):
    """The exact meta-gradient of the summed losses of the whole horizon (one truncation)."""
    _, tr, state = _trainer(horizon=horizon, truncation=horizon)
    grad = jax.jit(jax.grad(lambda mp: tr.meta_loss(mp, state)[0]))(state.meta_params)
    return state.meta_params, _flat(grad)


def _horizon_estimates(tr, state, num_truncations, keys):
    """Sum over the truncations of a horizon of one estimator's meta-gradient, per key."""

    def one(key):
        s, total = state, jax.tree.map(jnp.zeros_like, state.meta_params)
        for t in range(num_truncations):
            g, (unroll, perturbation), _, _ = tr.gradient(
                s.meta_params, s, jax.random.fold_in(key, t)
            )
            total = jax.tree.map(jnp.add, total, g)
            s = s._replace(unroll=unroll, perturbation=perturbation)
        return total

    samples = jax.jit(jax.vmap(one))(keys)
    n = keys.shape[0]
    return np.concatenate([np.asarray(x).reshape(n, -1) for x in jax.tree.leaves(samples)], 1)


def test_pes_is_unbiased_over_the_horizon_and_truncated_backprop_is_not():
    horizon, truncation, n = 6, 2, 2000
    with jax.enable_x64(True):
        meta_params, full = _full_bptt_gradient(horizon)
        _, tbptt_tr, state = _trainer(horizon=horizon, truncation=truncation)
        tbptt = _horizon_estimates(
            tbptt_tr, state, horizon // truncation, jax.random.split(jax.random.key(0), 1)
        )[0]
        _, pes_tr, pes_state = _trainer(
            horizon=horizon, truncation=truncation, estimator="pes", es_sigma=SIGMA
        )
        jax.tree.map(np.testing.assert_array_equal, pes_state.meta_params, meta_params)
        samples = _horizon_estimates(
            pes_tr, pes_state, horizon // truncation, jax.random.split(jax.random.key(1), n)
        )
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(n)
    # Every coordinate of the PES mean within its own standard error of full BPTT (64 coordinates,
    # so |z| up to ~4 happens by chance; a biased estimator lands far beyond).
    assert np.max(np.abs((mean - full) / se)) < 4.5
    # The statistic that matters most: along the direction in which truncation biases the
    # gradient (fixed before looking at the PES samples), PES agrees within its error...
    bias = tbptt - full
    assert np.linalg.norm(bias) > 0.2 * np.linalg.norm(full)  # truncation does matter here
    direction = bias / np.linalg.norm(bias)
    projected = samples @ direction
    se_projected = projected.std(ddof=1) / np.sqrt(n)
    assert abs(projected.mean() - full @ direction) / se_projected < 4
    # ...while truncated backpropagation misses by many standard errors.
    assert (tbptt - full) @ direction / se_projected > 10


def test_es_is_unbiased_when_the_truncation_is_the_whole_horizon():
    horizon, n = 4, 1000
    with jax.enable_x64(True):
        _, full = _full_bptt_gradient(horizon)
        _, es_tr, state = _trainer(
            horizon=horizon, truncation=horizon, estimator="es", es_sigma=SIGMA, es_pairs=2
        )
        samples = _horizon_estimates(es_tr, state, 1, jax.random.split(jax.random.key(2), n))
    se = samples.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.max(np.abs((samples.mean(axis=0) - full) / se)) < 4.5


def test_pes_accumulates_the_perturbations_and_es_does_not():
    """xi after k truncations is the sum of the k perturbations drawn (PES), the last one (ES)."""
    meta_params = {"w": jnp.zeros((3,)), "b": jnp.zeros(())}
    unroll = jnp.zeros((2,))

    def truncation(mp, state):  # a linear "unroll": objective = sum(w) + b
        return jnp.sum(mp["w"]) + mp["b"], state + 1, jnp.zeros((1,))

    keys = [jax.random.key(k) for k in range(3)]
    eps = [estimators.perturbations(k, meta_params, 2, 0.1) for k in keys]
    for persistent in (True, False):
        particles = estimators.start(unroll, meta_params, 2, persistent)
        assert particles.unroll.shape == (4, 2)
        for k in keys:
            grad, particles, objectives, _ = estimators.antithetic_gradient(
                truncation, meta_params, particles, k, sigma=0.1, persistent=persistent
            )
        np.testing.assert_array_equal(particles.unroll, np.full((4, 2), 3.0))
        xi = jax.tree.map(lambda *e: sum(e), *eps) if persistent else eps[-1]
        if persistent:
            jax.tree.map(np.testing.assert_allclose, particles.accumulated, xi)
        else:
            assert particles.accumulated == ()
        # g = 1/(2 sigma^2 P) sum_j xi_j (L_j^+ - L_j^-), with L^+ - L^- = 2 (sum eps_w + eps_b).
        last = eps[-1]
        diff = 2 * (jnp.sum(last["w"], axis=1) + last["b"])
        np.testing.assert_allclose(objectives[:2] - objectives[2:], diff, rtol=1e-5)
        expected_w = jnp.tensordot(diff, xi["w"], axes=1) / (2 * 0.01 * 2)
        np.testing.assert_allclose(grad["w"], expected_w, rtol=1e-5)


def test_a_registered_estimator_is_what_the_meta_step_uses(monkeypatch):
    """An estimator is one object behind one signature, registered by name: here truncated
    backprop with its estimate doubled, which the meta-step must return doubled."""

    class Doubled(estimators.TruncatedBackprop):
        def gradient(self, *args):
            grads, carried, loss, losses = super().gradient(*args)
            return jax.tree.map(lambda g: 2 * g, grads), carried, loss, losses

    monkeypatch.setitem(estimators.ESTIMATORS, "doubled", lambda sigma, pairs: Doubled())
    key = jax.random.key(0)
    plain = meta_lib.make_trainer(tiny_config(), Quadratic(dim=2), jit=False)
    doubled = meta_lib.make_trainer(tiny_config(estimator="doubled"), Quadratic(dim=2), jit=False)
    state = plain.init()
    g1, _, loss1, _ = plain.gradient(state.meta_params, state, key)
    g2, _, loss2, _ = doubled.gradient(state.meta_params, doubled.init(), key)
    np.testing.assert_allclose(_flat(g2), 2 * _flat(g1), rtol=1e-6)
    assert float(loss1) == float(loss2)
    with pytest.raises(ValueError, match="estimator: unknown 'pse'. Did you mean 'pes'"):
        tiny_config(estimator="pse")
