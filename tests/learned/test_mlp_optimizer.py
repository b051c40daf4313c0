"""The per-parameter MLP optimizer (``kind: mlp``): its features and updates against a float64 NumPy
reference, a stand-in network against optax's Adam, its meta-gradient against a finite difference,
and a meta-training run through the engine whose saved file gives the same updates."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import config, learned, meta
from l2l.learned import MLPOptimizerConfig, TensorFeatureConfig, tensor_features
from l2l.learned.mlp_optimizer import per_parameter_optimizer
from l2l.tasks import QuadraticConfig

FEATURES = TensorFeatureConfig(
    momentum_decays=(0.5, 0.9),
    second_moment_decay=0.99,
    factored_decays=(0.8, 0.95),
    timescales=(1.0, 10.0),
    eps=1e-3,
    normalize_eps=1e-4,
)
CONFIG = MLPOptimizerConfig(
    hidden_sizes=(6, 5), features=FEATURES, exp_mult=0.5, step_mult=0.1, output_init_scale=0.5
)
#: Every kind of feature, one of each: what compiles fastest, for the meta-gradient tests.
SLIM = dataclasses.replace(
    CONFIG,
    hidden_sizes=(5,),
    features=TensorFeatureConfig(
        momentum_decays=(0.9,), factored_decays=(0.9,), timescales=(3.0,), eps=1e-3
    ),
)


def to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def random_meta_params(cfg, key):
    """Fresh weights with every bias random too (they start at zero)."""
    meta_params = cfg.init_meta_params(key)
    leaves, treedef = jax.tree.flatten(meta_params)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    return treedef.unflatten(
        [a if a.ndim > 1 else 0.3 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)]
    )


# --------------------------------------------------------------------------- the NumPy oracle


class NumpyMLPOptimizer:
    """An independent float64 reference of the documented features and update rule, one leaf at a
    time, with explicit loops where the maths has sums."""

    def __init__(self, cfg: MLPOptimizerConfig, weights):
        self.cfg, self.f = cfg, cfg.features
        self.w = jax.tree.map(lambda a: np.asarray(a, np.float64), weights)
        self.acc = {}
        self.t = 0

    def names(self):
        f = self.f
        names = ["param", "grad"] + [f"momentum_{b:g}" for b in f.momentum_decays]
        names += ["second_moment", "rsqrt_second_moment"]
        names += [f"momentum_{b:g}_rsqrt" for b in f.momentum_decays]
        for b in f.factored_decays:
            names += [f"row_{b:g}", f"col_{b:g}", f"factored_{b:g}"]
            names += [f"rsqrt_factored_{b:g}", f"grad_rsqrt_factored_{b:g}"]
        return names + [f"tanh_step_{s:g}" for s in f.timescales]

    def leaf_features(self, name, g, p):
        f = self.f
        g, p = np.asarray(g, np.float64), np.asarray(p, np.float64)
        rows, cols = (1, g.size) if g.ndim < 2 else (int(np.prod(g.shape[:-1])), g.shape[-1])
        K, F = len(f.momentum_decays), len(f.factored_decays)
        if name not in self.acc:
            self.acc[name] = {
                "m": np.zeros((K, *g.shape)),
                "v": np.zeros(g.shape),
                "r": np.zeros((F, rows)),
                "c": np.zeros((F, cols)),
            }
        a = self.acc[name]
        tau = self.t + 1
        for k, b in enumerate(f.momentum_decays):
            a["m"][k] = b * a["m"][k] + (1 - b) * g
        a["v"] = f.second_moment_decay * a["v"] + (1 - f.second_moment_decay) * g**2
        G = g.reshape(rows, cols)
        for k, b in enumerate(f.factored_decays):
            for i in range(rows):
                a["r"][k, i] = (
                    b * a["r"][k, i]
                    + (1 - b) * sum(G[i, j] ** 2 + 1e-30 for j in range(cols)) / cols
                )
            for j in range(cols):
                a["c"][k, j] = (
                    b * a["c"][k, j]
                    + (1 - b) * sum(G[i, j] ** 2 + 1e-30 for i in range(rows)) / rows
                )
        m_hat = [a["m"][k] / (1 - b**tau) for k, b in enumerate(f.momentum_decays)]
        v_hat = a["v"] / (1 - f.second_moment_decay**tau)
        cols_out = [p, g, *m_hat, v_hat, 1 / (np.sqrt(v_hat) + f.eps)]
        cols_out += [mh / (np.sqrt(v_hat) + f.eps) for mh in m_hat]
        for k, b in enumerate(f.factored_decays):
            r_hat = a["r"][k] / (1 - b**tau)
            c_hat = a["c"][k] / (1 - b**tau)
            row, col, V = (np.zeros((rows, cols)) for _ in range(3))
            for i in range(rows):
                for j in range(cols):
                    row[i, j], col[i, j] = r_hat[i], c_hat[j]
                    V[i, j] = r_hat[i] * c_hat[j] / np.mean(r_hat)
            cols_out += [row, col, V, 1 / (np.sqrt(V) + f.eps), G / (np.sqrt(V) + f.eps)]
        X = np.stack([np.reshape(c, -1) for c in cols_out], axis=1)
        for q in range(X.shape[1]):  # each feature over its tensor
            X[:, q] = X[:, q] / np.sqrt(np.mean(X[:, q] ** 2) + f.normalize_eps)
        progress = [np.full(g.size, np.tanh(self.t / s)) for s in f.timescales]
        return np.concatenate([X, np.stack(progress, axis=1)], axis=1)

    def mlp(self, x):
        for i in range(len(self.cfg.hidden_sizes)):
            x = np.maximum(x @ self.w[f"hidden_{i}"]["kernel"] + self.w[f"hidden_{i}"]["bias"], 0)
        return x @ self.w["output"]["kernel"] + self.w["output"]["bias"]

    def step(self, grads: dict, params: dict):
        """Features and updates of one step for a flat dict of leaves."""
        features, updates = {}, {}
        for name in grads:
            x = self.leaf_features(name, grads[name], params[name])
            out = self.mlp(x)
            u = -self.cfg.step_mult * out[:, 0] * np.exp(self.cfg.exp_mult * out[:, 1])
            features[name], updates[name] = x, u.reshape(np.shape(grads[name]))
        self.t += 1
        return features, updates


def test_features_and_updates_equal_a_float64_numpy_reference():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        params = {"b": jnp.asarray(rng.normal(size=4)), "w": jnp.asarray(rng.normal(size=(3, 4)))}
        weights = to64(random_meta_params(CONFIG, jax.random.key(0)))
        opt = CONFIG.optimizer(weights)
        features = tensor_features(CONFIG.features)
        oracle = NumpyMLPOptimizer(CONFIG, weights)
        assert list(features.names) == oracle.names()

        @jax.jit
        def step(grads, params, state):  # the features the optimizer sees, and its update
            inputs, _ = features.apply(grads, params, state.features, state.count)
            return inputs, *opt.update(grads, state, params)

        state = opt.init(params)
        for _ in range(3):
            grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params)
            inputs, updates, state = step(grads, params, state)
            want_x, want_u = oracle.step(
                {k: np.asarray(v) for k, v in grads.items()},
                {k: np.asarray(v) for k, v in params.items()},
            )
            # Leaves in jax.tree.leaves order ("b" then "w"), each raveled in C order.
            np.testing.assert_allclose(
                inputs, np.concatenate([want_x["b"], want_x["w"]]), rtol=1e-12, atol=1e-14
            )
            for name in params:
                assert updates[name].dtype == jnp.float64
                np.testing.assert_allclose(updates[name], want_u[name], rtol=1e-11, atol=1e-15)
            params = optax.apply_updates(params, updates)
        assert int(state.count) == 3


def test_stand_in_network_giving_adams_direction_reproduces_optax_adam_exactly():
    raw = TensorFeatureConfig(
        momentum_decays=(0.5, 0.9, 0.99), second_moment_decay=0.999, eps=1e-8, normalize=False
    )
    features = tensor_features(raw)
    column = features.names.index("momentum_0.9_rsqrt")  # m_hat / (sqrt(v_hat) + eps)

    def adam_network(inputs):  # direction: Adam's; log-magnitude: 0
        return jnp.stack([inputs[:, column], jnp.zeros_like(inputs[:, column])], axis=-1)

    lr = 1e-3
    ours = per_parameter_optimizer(adam_network, features, exp_mult=0.7, step_mult=lr)
    adam = optax.adam(lr)
    rng = np.random.default_rng(1)
    params = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": jnp.ones(4)}
    s_ours, s_adam = ours.init(params), adam.init(params)
    for _ in range(3):  # op by op, so both run the very same kernels on any CPU
        grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        u_ours, s_ours = ours.update(grads, s_ours, params)
        u_adam, s_adam = adam.update(grads, s_adam, params)
        jax.tree.map(np.testing.assert_array_equal, u_ours, u_adam)
        params = optax.apply_updates(params, u_ours)


def test_relative_step_is_adam_times_each_leafs_parameter_rms_and_fan_in_scale():
    """``relative_step`` (Adafactor's relative step size): with Adam's direction as the network,
    each leaf's update is optax Adam's times max(rms(leaf), floor), in NumPy: a matrix of rms 2,
    a vector below the floor, and a scalar."""
    raw = TensorFeatureConfig(momentum_decays=(0.9,), second_moment_decay=0.999, normalize=False)
    features = tensor_features(raw)
    column = features.names.index("momentum_0.9_rsqrt")

    def adam_network(inputs):
        return jnp.stack([inputs[:, column], jnp.zeros_like(inputs[:, column])], axis=-1)

    lr, floor = 1e-2, 0.1
    ours = per_parameter_optimizer(adam_network, features, step_mult=lr, relative_floor=floor)
    scaled = per_parameter_optimizer(
        adam_network, features, step_mult=lr, relative_floor=floor, fan_in_scaling=True
    )
    adam = optax.adam(lr)
    rng = np.random.default_rng(3)
    params = {
        "w": jnp.asarray(2.0 * np.sign(rng.normal(size=(3, 4))), jnp.float32),  # rms exactly 2
        "b": jnp.full(4, 0.01, jnp.float32),  # rms 0.01 < floor
        "s": jnp.asarray(-0.5, jnp.float32),  # rms 0.5
    }
    s_ours, s_adam = ours.init(params), adam.init(params)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    u_ours, _ = ours.update(grads, s_ours, params)
    u_adam, _ = adam.update(grads, s_adam, params)
    u_scaled, _ = scaled.update(grads, s_ours, params)
    for name, scale in (("w", 2.0), ("b", floor), ("s", 0.5)):
        np.testing.assert_allclose(u_ours[name], scale * np.asarray(u_adam[name]), rtol=1e-6)
        # fan_in_scaling: the (3, 4) matrix's step over sqrt(3), its 3 rows; vectors unscaled.
        fan_in = 3 if name == "w" else 1
        np.testing.assert_allclose(u_scaled[name], u_ours[name] / np.sqrt(fan_in), rtol=1e-6)
    assert u_ours["s"].shape == ()


def test_loss_features_follow_their_numpy_recurrence_and_need_the_loss():
    """``loss_decays``: tanh(log f_t - m_j) for the moving averages m_j of the log loss over the
    updates before (started at log f_0) and tanh((log f_t - log f_0) / 4), the same for every
    coordinate; in float64 NumPy over six updates whose loss falls and jumps."""
    decays = (0.5, 0.9)
    raw = TensorFeatureConfig(momentum_decays=(), factored_decays=(), loss_decays=decays)
    features = tensor_features(raw)
    assert features.names[-3:] == ("loss_vs_ema_0.5", "loss_vs_ema_0.9", "loss_vs_first")
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    state = features.init(params)
    values = [4.0, 2.0, 1.0, 3.0, 0.01, 0.02]
    averages = None
    for t, value in enumerate(values):
        inputs, state = features.apply(params, params, state, jnp.asarray(t), jnp.asarray(value))
        log_f = np.log(value)
        if averages is None:
            averages, first = np.full(2, log_f), log_f
        expected = np.tanh([log_f - averages[0], log_f - averages[1], (log_f - first) / 4])
        np.testing.assert_allclose(np.asarray(inputs[:, -3:]), np.tile(expected, (9, 1)), atol=2e-6)
        averages = np.asarray(decays) * averages + (1 - np.asarray(decays)) * log_f
    opt = MLPOptimizerConfig(features=raw).optimizer(
        MLPOptimizerConfig(features=raw).init_meta_params(jax.random.key(0))
    )
    with pytest.raises(ValueError, match=r"loss features \(loss_decays\) read the loss"):
        opt.update(params, opt.init(params), params)


def test_updates_keep_the_params_dtype():
    opt = SLIM.optimizer(SLIM.init_meta_params(jax.random.key(2)))
    params = {"w": jnp.ones((2, 3), jnp.bfloat16), "s": jnp.asarray(0.5, jnp.bfloat16)}
    updates, state = jax.jit(opt.update)(params, opt.init(params), params)
    assert [u.dtype for u in jax.tree.leaves(updates)] == [jnp.bfloat16] * 2
    assert jax.tree.leaves(state.features.momenta)[0].dtype == jnp.bfloat16


def test_meta_gradient_through_an_unroll_matches_a_central_finite_difference():
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        X, Y = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=(6, 4)))
        theta0 = {"w": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.zeros(4)}

        def loss(p):
            return jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)

        def meta_loss(meta_params):  # full backprop: the gradient keeps its dependence on theta
            opt = SLIM.optimizer(meta_params)

            def step(carry, _):
                theta, state = carry
                updates, state = opt.update(jax.grad(loss)(theta), state, theta)
                theta = optax.apply_updates(theta, updates)
                return (theta, state), loss(theta)

            _, losses = jax.lax.scan(step, (theta0, opt.init(theta0)), length=5)
            return jnp.sum(losses)

        weights = to64(random_meta_params(SLIM, jax.random.key(4)))
        value_and_grad = jax.jit(jax.value_and_grad(meta_loss))  # one compilation serves both
        _, grads = value_and_grad(weights)
        leaves, treedef = jax.tree.flatten(weights)
        for _ in range(2):
            direction = treedef.unflatten([rng.normal(size=a.shape) for a in leaves])
            h = 1e-5
            plus = jax.tree.map(lambda a, d: a + h * d, weights, direction)
            minus = jax.tree.map(lambda a, d: a - h * d, weights, direction)
            fd = (value_and_grad(plus)[0] - value_and_grad(minus)[0]) / (2 * h)
            analytic = sum(
                np.vdot(g, d) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction))
            )
            assert abs(analytic) > 1e-3  # the weights matter to the meta-loss
            np.testing.assert_allclose(analytic, fd, rtol=1e-6)


def test_meta_trains_through_the_engine_and_its_file_gives_the_same_updates(tmp_path):
    opt_cfg = dataclasses.replace(SLIM, step_mult=0.05, exp_mult=0.1)
    cfg = meta.MetaTrainConfig(
        task=QuadraticConfig(dim=3),
        optimizer=opt_cfg,
        meta_optimizer=meta.MetaOptimizerConfig(learning_rate=0.03, decay_to=1.0),
        horizon=10,
        truncation=5,
        batch_size=2,
        meta_steps=4,
        eval_every=4,
        eval_instances=2,
        remat=False,
        output_dir=str(tmp_path),
    )
    initial = opt_cfg.init_meta_params(jax.random.fold_in(jax.random.key(cfg.seed), 0))
    run = meta.train(cfg, show_progress=False)
    assert run.skipped == 0 and np.isfinite(run.best_score)
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), run.meta_params, initial)
    assert max(jax.tree.leaves(moved)) > 1e-3  # the meta-steps changed the weights
    trained = learned.read(tmp_path / "best.l2l")
    assert trained.config == opt_cfg
    jax.tree.map(np.testing.assert_array_equal, trained.meta_params, run.best_meta_params)
    params = {"w": jnp.linspace(-1, 1, 6).reshape(2, 3), "b": jnp.ones(3)}
    grads = jax.tree.map(lambda p: 0.3 * p - 0.1, params)

    @functools.partial(jax.jit, static_argnums=0)
    def first_update(optimizer_config, meta_params):  # what learned.load(path) (the zoo) computes
        opt = optimizer_config.optimizer(meta_params)
        return opt.update(grads, opt.init(params), params)[0]

    jax.tree.map(
        np.testing.assert_array_equal,
        first_update(trained.config, trained.meta_params),
        first_update(opt_cfg, run.best_meta_params),
    )
    # The run's config, with its mlp section, round-trips through YAML.
    config.save(cfg, tmp_path / "again.yaml")
    assert config.load(meta.MetaTrainConfig, tmp_path / "again.yaml") == cfg
