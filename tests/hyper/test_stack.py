"""Hyperoptimizer stacks, checked against closed-form recurrences and the plain optimizers they
wrap (each hypergradient mode alone, against its oracles: ``tests/hyper/modes``)."""

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper, optimizers


def _problem(dtype=jnp.float64):
    """A smooth non-quadratic loss on a two-leaf pytree, deterministic (full batch)."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(6, 4)), dtype)
    b = jnp.asarray(rng.normal(size=6), dtype)
    params = {
        "w": jnp.asarray(rng.normal(size=4), dtype),
        "v": jnp.asarray([0.5, -1.0, 2.0], dtype),
    }

    def loss(p):
        return jnp.sum(jnp.tanh(a @ p["w"] - b) ** 2) + 0.1 * jnp.sum(p["v"] ** 4)

    return params, loss


def _run(opt, params, loss, steps):
    """Eager loop; returns the parameters and states after every update (lists)."""
    state = opt.init(params)
    params_seen, states = [params], [state]
    for _ in range(steps):
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        params_seen.append(params)
        states.append(state)
    return params_seen, states


def _dot(a, b):
    return sum(
        float(np.vdot(np.asarray(x), np.asarray(y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


# --------------------------------------------------------------------------- hypergradients


def test_sgd_sgd_sgd_follows_the_closed_form_recurrence(x64):
    """Three SGD levels, raw: a_t = a_{t-1} - b_t h_t with h_t = -g_t . g_{t-1}, and
    b_t = b_{t-1} - kappa k_t with k_t = -h_t h_{t-1} (the chain rule through level 1's update)."""
    params, loss = _problem()
    a, b, kappa = 0.05, 1e-3, 1e-4
    opt = hyper.stack(hyper.sgd(a, reparam="raw"), hyper.sgd(b, reparam="raw"), hyper.sgd(kappa))
    params_seen, states = _run(opt, params, loss, 10)

    theta, prev_g, prev_h = params, None, None
    for t in range(10):
        g = jax.grad(loss)(theta)
        h = None if prev_g is None else -_dot(g, prev_g)
        if h is not None and prev_h is not None:
            b = b - kappa * (-h * prev_h)
        if h is not None:
            a = a - b * h
        theta = jax.tree.map(lambda p, d, a=a: p - a * d, theta, g)
        prev_g, prev_h = g, h
        level0, level1, level2 = states[t + 1].levels
        np.testing.assert_allclose(level0.hyperparams["learning_rate"], a, rtol=1e-12)
        np.testing.assert_allclose(level1.hyperparams["learning_rate"], b, rtol=1e-12)
        assert float(level2.hyperparams["learning_rate"]) == kappa
        jax.tree.map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-12), params_seen[t + 1], theta
        )


# --------------------------------------------------------------------------- kappa = 0


PLAIN_RULES = {
    "sgd": hyper.sgd(0.1),
    "momentum": hyper.sgd(0.05, 0.7, learn=("learning_rate", "momentum")),
    "adam": hyper.adam(0.05, 0.8, 0.95, learn=("learning_rate", "b1", "b2")),
    "adagrad": hyper.adagrad(0.3),
    "rmsprop": hyper.rmsprop(0.05, 0.8, learn=("learning_rate", "decay")),
}


def _scan_trajectory(opt, params, loss, length=25):
    def body(carry, _):
        p, s = carry
        updates, s = opt.update(jax.grad(loss)(p), s, p)
        p = optax.apply_updates(p, updates)
        return (p, s), p

    return jax.lax.scan(body, (params, opt.init(params)), length=length)


@pytest.mark.parametrize(
    "rule, reparam, height",
    [(rule, "auto", 2) for rule in sorted(PLAIN_RULES)] + [("adam", "raw", 3)],
)
def test_kappa_zero_reproduces_the_plain_trajectory_exactly(rule, reparam, height):
    """float32, jit + lax.scan: with a zero step size at the top the hyperparameters never move,
    and the parameters are bit for bit those of the plain optimizer with the same values."""
    bottom = PLAIN_RULES[rule]
    bottom = hyper.level(
        bottom.optimizer, learn=bottom.learn, reparam=reparam, **bottom.hyperparams
    )
    params, loss = _problem(jnp.float32)
    middle = [hyper.adam(0.0, reparam="raw")] * (height - 2)
    opt = hyper.stack(bottom, *middle, hyper.sgd(0.0))
    values = opt.init(params).levels[0].hyperparams

    (_, final_state), stacked = jax.jit(lambda: _scan_trajectory(opt, params, loss))()
    # The plain optimizer gets the values as arguments, as the stack does (from its state): a
    # value baked into the program as a constant may be folded differently by XLA (1 ulp).
    plain = jax.jit(
        lambda v: _scan_trajectory(optimizers.make(bottom.optimizer, **v), params, loss)[1]
    )
    jax.tree.map(np.testing.assert_array_equal, stacked, plain(values))
    jax.tree.map(np.testing.assert_array_equal, final_state.levels[0].hyperparams, values)
    assert int(final_state.levels[1].count) == 24  # The levels above did step (by zero).
    moved = jax.tree.map(lambda p, q: np.abs(np.asarray(p) - np.asarray(q)).max(), stacked, params)
    assert max(jax.tree.leaves(moved)) > 1e-3


def test_with_learning_the_trajectory_departs_from_the_plain_one():
    params, loss = _problem(jnp.float32)
    opt = hyper.stack(hyper.sgd(0.05, reparam="raw"), hyper.sgd(1e-3))
    _, states = _run(opt, params, loss, 5)
    assert float(states[-1].levels[0].hyperparams["learning_rate"]) != pytest.approx(0.05, rel=1e-4)


# --------------------------------------------------------------------------- safeguards


RANGE_CASES = [
    (lambda r: hyper.sgd(0.1, reparam=r), "learning_rate", 0.0, np.inf, ("auto", "log", "sqrt")),
    (lambda r: hyper.adam(0.1, reparam=r), "b1", 0.0, 1.0, ("auto", "sigmoid")),
    (lambda r: hyper.adam(0.1, reparam=r), "b2", 0.0, 1.0, ("auto", "sigmoid")),
    (lambda r: hyper.rmsprop(0.1, reparam=r), "decay", 0.0, 1.0, ("auto", "sigmoid")),
]


@pytest.mark.parametrize(
    "make, name, low, high, reparam",
    [(m, n, lo, hi, r) for m, n, lo, hi, rs in RANGE_CASES for r in rs],
    ids=[f"{n}-{r}" for _, n, _, _, rs in RANGE_CASES for r in rs],
)
def test_reparameterized_hyperparameters_stay_in_range_under_huge_hypergradients(
    make, name, low, high, reparam
):
    """float32 gradients of size 1e30 (and their products, which overflow): every value stays
    strictly inside the range and finite; a level whose hypergradient overflowed skips the step."""
    opt = hyper.stack(make(reparam), hyper.sgd(1.0))
    params = {"x": jnp.zeros(3, jnp.float32)}
    state = opt.init(params)
    rng = np.random.default_rng(1)
    for t in range(12):
        scale = 1e30 if t % 2 else 1e-3
        sign = 1.0 if t < 6 else -1.0  # Pushes one way, then the other.
        g = {"x": jnp.asarray(sign * scale * rng.choice([-1.0, 1.0], size=3), jnp.float32)}
        _, state = opt.update(g, state)
        value = float(state.levels[0].hyperparams[name])
        assert np.isfinite(value) and low < value < high, (t, value)
    assert all(np.isfinite(float(v)) for v in state.levels[0].raw.values())


def test_non_finite_hypergradient_is_skipped_and_counted():
    params = {"x": jnp.ones(3)}
    opt = hyper.stack(hyper.adam(0.1), hyper.adam(0.01), hyper.sgd(1e-3))
    state = opt.init(params)
    grads = [jnp.array([1.0, -2.0, 0.5]), jnp.array([0.5, 1.0, -1.0]), jnp.array([2.0, 0.1, 0.3])]
    for g in grads:
        _, state = opt.update({"x": g}, state)
    before = state
    updates, state = opt.update({"x": jnp.array([jnp.nan, 1.0, 1.0])}, state)
    assert int(state.levels[0].skipped) == 1
    assert int(state.levels[1].skipped) == 0
    jax.tree.map(np.testing.assert_array_equal, state.levels[0].raw, before.levels[0].raw)
    jax.tree.map(np.testing.assert_array_equal, state.levels[1:], before.levels[1:])
    assert int(state.levels[0].count) == 4  # The optimizee step itself was still taken.
    np.testing.assert_array_equal(np.isfinite(np.asarray(updates["x"])), [False, True, True])

    _, state = opt.update({"x": jnp.array([jnp.inf, 1.0, 1.0])}, state)
    _, state = opt.update({"x": jnp.array([1.0, 1.0, 1.0])}, state)  # NaN in the previous grad.
    assert int(state.levels[0].skipped) == 3
    assert hyper.skipped(state)[0] == 3


def test_first_update_takes_no_hyper_step():
    params = {"x": jnp.ones(2)}
    opt = hyper.stack(hyper.sgd(0.1), hyper.sgd(0.1), hyper.sgd(0.1))
    state = opt.init(params)
    _, state = opt.update({"x": jnp.array([1.0, 2.0])}, state)
    counts = [int(level.count) for level in state.levels]
    assert counts == [1, 0, 0]
    _, state = opt.update({"x": jnp.array([1.0, 2.0])}, state)
    assert [int(level.count) for level in state.levels] == [2, 1, 0]
    assert all(int(level.skipped) == 0 for level in state.levels)


# --------------------------------------------------------------------------- composition


@pytest.mark.parametrize("mode", hyper.MODES)
def test_works_under_jit_scan_vmap_and_optax_chain(x64, mode):
    """A chain of clipping and Adam / SGD / SGD, in each mode, under jit + scan + vmap equals a loop
    of the stack's own update on clipped gradients (float64: float32 rounding differs between
    differently fused code, and the hypergradient's cancellations amplify it to ~1e-4)."""
    params, loss = _problem(jnp.float64)
    discount = 0.9 if mode == "run" else 1.0
    stack = hyper.stack(
        hyper.adam(0.05), hyper.sgd(0.01), hyper.sgd(1e-3), mode=mode, discount=discount
    )
    chained = optax.chain(optax.clip_by_global_norm(1.0), stack)
    clip = optax.clip_by_global_norm(1.0)

    def clipped_grad(p):  # Mode 'run' differentiates the gradient the stack sees.
        return clip.update(jax.grad(loss)(p), clip.init(p))[0]

    def run(scale):
        def body(carry, _):
            p, s = carry
            updates, s = chained.update(jax.grad(loss)(p), s, p, grad_fn=clipped_grad)
            return (optax.apply_updates(p, updates), s), hyper.hyperparams(s)[0]["learning_rate"]

        start = jax.tree.map(lambda x: scale * x, params)
        return jax.lax.scan(body, (start, chained.init(start)), length=15)

    (final, chain_state), lr_trace = jax.jit(jax.vmap(run))(jnp.array([1.0, 2.0]))

    update = jax.jit(lambda g, s, p: stack.update(g, s, p, grad_fn=clipped_grad))
    p = jax.tree.map(lambda x: 2.0 * x, params)
    state = stack.init(p)
    for _ in range(15):
        updates, state = update(clipped_grad(p), state, p)
        p = optax.apply_updates(p, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[1], b, rtol=1e-10), final, p)
    np.testing.assert_allclose(
        lr_trace[1, -1], state.levels[0].hyperparams["learning_rate"], rtol=1e-10
    )
    assert not np.allclose(lr_trace[1, -1], 0.05)
    assert hyper.find_state(chain_state).levels[0].count.shape == (2,)


# --------------------------------------------------------------------------- errors


def test_errors_speak_to_the_user():
    with pytest.raises(TypeError, match="not a Level"):
        hyper.stack(optax.sgd(0.1), hyper.sgd(0.1))
    with pytest.raises(ValueError, match="top level"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(0.1, learn=("learning_rate",)))
    with pytest.raises(ValueError, match="learns no hyperparameter"):
        hyper.stack(hyper.adam(0.1, learn=()), hyper.sgd(0.1))
    with pytest.raises(ValueError, match="'sigmoid'"):
        hyper.sgd(0.1, 0.0, learn=("learning_rate", "momentum"))
    with pytest.raises(ValueError, match="cannot learn"):
        hyper.adam(learn=("beta1",))
    with pytest.raises(ValueError, match="cannot use optimizer"):
        hyper.level("smoothed_nesterov")
    with pytest.raises(ValueError, match="out of range"):
        hyper.adam(learning_rate=-1.0)
    with pytest.raises(ValueError, match="Unknown parameterization"):
        hyper.stack(hyper.sgd(0.1, reparam="exp"), hyper.sgd(0.1))


def test_parameterizations_are_chosen_per_hyperparameter():
    assert [hyper.adam().parameterization(n).name for n in ("learning_rate", "b1", "b2")] == [
        "log",
        "sigmoid",
        "sigmoid",
    ]
    raw_lr = hyper.adam(learn={"learning_rate": "raw"})
    assert raw_lr.parameterization("learning_rate").name == "raw"
    assert raw_lr.learned_names(top=False) == ("learning_rate",)
    level = hyper.rmsprop(learn=("learning_rate", "decay"), reparam={"learning_rate": "sqrt"})
    assert [level.parameterization(n).name for n in ("learning_rate", "decay")] == [
        "sqrt",
        "sigmoid",
    ]
    assert hyper.sgd(reparam="raw").parameterization("learning_rate").name == "raw"
    assert hyper.adam().hyperparams["eps_root"] == 1e-16  # A finite hypergradient of b2.
    # The raw values the level above steps: h = T(phi) at init, to float32 rounding.
    learn_all = ("learning_rate", "b1", "b2")
    state = hyper.stack(hyper.adam(1e-3, learn=learn_all), hyper.sgd(1e-5)).init(
        {"x": jnp.zeros(2)}
    )
    np.testing.assert_allclose(state.levels[0].raw["learning_rate"], np.log(1e-3), rtol=1e-6)
    np.testing.assert_allclose(state.levels[0].raw["b2"], np.log(0.999 / 0.001), rtol=1e-5)
    np.testing.assert_allclose(state.levels[0].hyperparams["b2"], 0.999, rtol=1e-6)


# --------------------------------------------------------------------------- optax's names

# The optax function with each rule's update (momentum and Nesterov are optax.sgd's).
OPTAX_TWIN = {
    "sgd": optax.sgd,
    "momentum": optax.sgd,
    "nesterov": optax.sgd,
    "adagrad": optax.adagrad,
    "rmsprop": optax.rmsprop,
    "adadelta": optax.adadelta,
    "adam": optax.adam,
    "adamax": optax.adamax,
}
OURS_ONLY = {"initial_delta"}  # A hyperparameter optax's rule does not have.


def _names(fn):
    return list(inspect.signature(fn).parameters)


@pytest.mark.parametrize(
    "level_fn, twin",
    [
        (hyper.sgd, optax.sgd),
        (hyper.adam, optax.adam),
        (hyper.adagrad, optax.adagrad),
        (hyper.rmsprop, optax.rmsprop),
    ],
    ids=["sgd", "adam", "adagrad", "rmsprop"],
)
def test_named_levels_take_optax_argument_names(level_fn, twin):
    ours = [n for n in _names(level_fn) if n not in ("learn", "reparam", "normalize")]
    assert ours[0] == _names(twin)[0] == "learning_rate"
    assert set(ours) <= set(_names(twin))


def test_every_rule_and_its_defaults_use_optax_names(x64):
    assert set(OPTAX_TWIN) == set(hyper.RULES)
    # By default every rule learns its step size only (see DEFAULT_LEARNED's comment).
    assert set(hyper.DEFAULT_LEARNED.values()) == {("learning_rate",)}
    for rule, twin in OPTAX_TWIN.items():
        level = hyper.level(rule)
        assert set(level.hyperparams) - OURS_ONLY <= set(_names(twin)), rule
        assert set(hyper.DEFAULT_LEARNED[rule]) <= set(level.hyperparams)
        # ... and the state reports them by the same names.
        state = hyper.stack(level, hyper.sgd(0.0)).init({"x": jnp.ones(2)})
        assert set(hyper.hyperparams(state)[0]) == set(level.hyperparams)
        assert set(state.levels[0].raw) == set(hyper.DEFAULT_LEARNED[rule])
    momentum_level = hyper.sgd(0.1, 0.5)
    assert momentum_level.optimizer == "momentum"
    assert momentum_level.hyperparams == {"learning_rate": 0.1, "momentum": 0.5}


# --------------------------------------------------------------------------- schedules

SCHEDULE = optax.cosine_decay_schedule(0.05, 8, alpha=0.2)


@pytest.mark.parametrize(
    "build",
    [
        lambda: hyper.adam(learning_rate=SCHEDULE, learn=("learning_rate",)),
        lambda: hyper.sgd(SCHEDULE, 0.5, learn={"learning_rate": "raw", "momentum": "sigmoid"}),
        lambda: hyper.level("adamax", learning_rate=SCHEDULE, learn=("b1", "learning_rate")),
        # Not learned when built, but learned by default once below the top of a stack.
        lambda: hyper.stack(hyper.rmsprop(SCHEDULE), hyper.sgd(1e-3)),
    ],
    ids=["adam", "sgd-mapping", "level", "default-learned-in-a-stack"],
)
def test_a_learned_hyperparameter_cannot_be_a_schedule(build):
    with pytest.raises(ValueError, match=r"learns `learning_rate`.*not a schedule"):
        build()


def test_a_fixed_schedule_in_a_learning_level_is_optax_with_that_schedule(x64):
    """Adam with a cosine-decayed step size while its betas are learned with kappa = 0: the
    trajectory is optax.adam's with the same schedule, and the state reads the schedule's value at
    each update (schedule(t - 1) after update t)."""
    params, loss = _problem()
    bottom = hyper.adam(SCHEDULE, 0.8, 0.95, learn=("b1", "b2"))
    stacked, states = _run(hyper.stack(bottom, hyper.sgd(0.0)), params, loss, 12)
    plain, _ = _run(optax.adam(SCHEDULE, 0.8, 0.95, eps=1e-8, eps_root=1e-16), params, loss, 12)
    for ours, theirs in zip(stacked, plain):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), ours, theirs)
    assert float(hyper.hyperparams(states[0])[0]["learning_rate"]) == pytest.approx(0.05)
    for t in range(1, 13):
        np.testing.assert_allclose(
            hyper.hyperparams(states[t])[0]["learning_rate"], float(SCHEDULE(t - 1)), rtol=1e-12
        )
    assert not np.allclose(float(SCHEDULE(11)), 0.05)


def test_a_schedule_at_the_top_follows_the_closed_form(x64):
    """SGD learning its step size with a scheduled kappa: a_t = a_{t-1} - kappa(k) h_t, where k
    counts the hyper-steps already taken and h_t = -g_t . g_{t-1}."""
    kappa = optax.piecewise_constant_schedule(1e-3, {3: 10.0})
    params, loss = _problem()
    _, states = _run(hyper.stack(hyper.sgd(0.05, reparam="raw"), hyper.sgd(kappa)), params, loss, 8)
    a, theta, prev_g, k = 0.05, params, None, 0
    for t in range(8):
        g = jax.grad(loss)(theta)
        if prev_g is not None:
            a = a - float(kappa(k)) * (-_dot(g, prev_g))
            k += 1
        theta = jax.tree.map(lambda p, d, a=a: p - a * d, theta, g)
        prev_g = g
        level0, level1 = states[t + 1].levels
        np.testing.assert_allclose(level0.hyperparams["learning_rate"], a, rtol=1e-12)
        assert int(level1.count) == k
        np.testing.assert_allclose(level1.hyperparams["learning_rate"], kappa(max(k - 1, 0)))
    assert k == 7 and float(kappa(k - 1)) == pytest.approx(1e-2)


# --------------------------------------------------------------------------- the old names


DEPRECATED = r"^l2l\.hyper\.\S+: `(lr|gamma)` is deprecated; use `\w+` \(optax's name\)\.$"


def _messages(record):
    return sorted(str(w.message) for w in record)


def _deprecated(who, old, new):
    return f"{who}: `{old}` is deprecated; use `{new}` (optax's name)."


OLD_SPELLINGS = [
    (
        "sgd",
        lambda: hyper.sgd(lr=0.05, gamma=0.7, learn=("lr", "gamma"), reparam={"gamma": "raw"}),
        lambda: hyper.sgd(
            learning_rate=0.05,
            momentum=0.7,
            learn=("learning_rate", "momentum"),
            reparam={"momentum": "raw"},
        ),
        [
            _deprecated("l2l.hyper.sgd", "gamma", "momentum"),
            _deprecated("l2l.hyper.sgd", "gamma", "momentum"),
            _deprecated("l2l.hyper.sgd", "gamma", "momentum"),
            _deprecated("l2l.hyper.sgd", "lr", "learning_rate"),
            _deprecated("l2l.hyper.sgd", "lr", "learning_rate"),
        ],
    ),
    (
        "rmsprop",
        lambda: hyper.rmsprop(lr=0.05, gamma=0.8, learn={"lr": "raw", "gamma": "sigmoid"}),
        lambda: hyper.rmsprop(0.05, 0.8, learn={"learning_rate": "raw", "decay": "sigmoid"}),
        [
            _deprecated("l2l.hyper.rmsprop", "gamma", "decay"),
            _deprecated("l2l.hyper.rmsprop", "gamma", "decay"),
            _deprecated("l2l.hyper.rmsprop", "lr", "learning_rate"),
            _deprecated("l2l.hyper.rmsprop", "lr", "learning_rate"),
        ],
    ),
    (
        "adam",
        lambda: hyper.adam(lr=0.05, b1=0.8, reparam={"lr": "sqrt"}),
        lambda: hyper.adam(learning_rate=0.05, b1=0.8, reparam={"learning_rate": "sqrt"}),
        [
            _deprecated("l2l.hyper.adam", "lr", "learning_rate"),
            _deprecated("l2l.hyper.adam", "lr", "learning_rate"),
        ],
    ),
    (
        "adagrad",
        lambda: hyper.adagrad(lr=0.3),
        lambda: hyper.adagrad(learning_rate=0.3),
        [_deprecated("l2l.hyper.adagrad", "lr", "learning_rate")],
    ),
    (
        "level",
        lambda: hyper.level("adadelta", lr=0.5, gamma=0.8, learn=("lr", "gamma")),
        lambda: hyper.level("adadelta", learning_rate=0.5, rho=0.8, learn=("learning_rate", "rho")),
        [
            _deprecated("l2l.hyper.level('adadelta')", "gamma", "rho"),
            _deprecated("l2l.hyper.level('adadelta')", "gamma", "rho"),
            _deprecated("l2l.hyper.level('adadelta')", "lr", "learning_rate"),
            _deprecated("l2l.hyper.level('adadelta')", "lr", "learning_rate"),
        ],
    ),
    (
        "Level",
        lambda: hyper.Level("momentum", {"lr": 0.05, "gamma": 0.7}, ("gamma",)),
        lambda: hyper.Level("momentum", {"learning_rate": 0.05, "momentum": 0.7}, ("momentum",)),
        [
            _deprecated("l2l.hyper.Level('momentum')", "gamma", "momentum"),
            _deprecated("l2l.hyper.Level('momentum')", "gamma", "momentum"),
            _deprecated("l2l.hyper.Level('momentum')", "lr", "learning_rate"),
        ],
    ),
]


@pytest.mark.parametrize(
    "old, new, messages", [c[1:] for c in OLD_SPELLINGS], ids=[c[0] for c in OLD_SPELLINGS]
)
def test_old_names_in_a_level_warn_and_give_the_same_numbers(old, new, messages, x64):
    """Old names in the initial values, in ``learn`` and in ``reparam``: one warning each, naming
    the new spelling, and a level equal to the new spelling's, whose stack runs number for
    number the same."""
    with pytest.warns(DeprecationWarning, match=DEPRECATED) as record:
        old_level = old()
    assert _messages(record) == messages
    assert {w.filename for w in record} == {__file__}  # Blamed on the caller, not on l2l.
    new_level = new()
    assert old_level.optimizer == new_level.optimizer
    assert old_level.hyperparams == new_level.hyperparams
    assert old_level.learn == new_level.learn and old_level.reparam == new_level.reparam

    params, loss = _problem()
    old_run, old_states = _run(hyper.stack(old_level, hyper.sgd(1e-3)), params, loss, 5)
    new_run, new_states = _run(hyper.stack(new_level, hyper.sgd(1e-3)), params, loss, 5)
    jax.tree.map(np.testing.assert_array_equal, old_run, new_run)
    jax.tree.map(np.testing.assert_array_equal, old_states[-1], new_states[-1])
    learned = new_level.learned_names(top=False)
    assert set(hyper.hyperparams(new_states[-1])[0]) >= set(learned)
    moved = [float(new_states[-1].levels[0].hyperparams[n]) for n in learned]
    assert moved != [float(new_level.hyperparams[n]) for n in learned]  # Learning happened.


def test_old_name_of_a_parameterization_warns():
    level = hyper.rmsprop(learn=("learning_rate", "decay"), reparam={"decay": "raw"})
    with pytest.warns(DeprecationWarning, match=re.escape("`gamma` is deprecated; use `decay`")):
        assert level.parameterization("gamma") is level.parameterization("decay")
    assert level.parameterization("decay").name == "raw"


@pytest.mark.parametrize(
    "build",
    [
        lambda: hyper.rmsprop(decay=0.9, gamma=0.9),
        lambda: hyper.sgd(0.1, lr=0.1),  # Positionally, 0.1 is the learning rate already.
        lambda: hyper.adam(learn=("lr", "learning_rate")),
        lambda: hyper.adam(learn={"lr": "raw", "learning_rate": "log"}),
        lambda: hyper.rmsprop(reparam={"gamma": "raw", "decay": "raw"}),
        lambda: hyper.level("adadelta", rho=0.9, gamma=0.9),
        lambda: hyper.Level("adam", {"lr": 0.1, "learning_rate": 0.1}),
    ],
)
def test_old_and_new_name_together_is_a_type_error(build):
    with pytest.raises(TypeError, match=r"got both `(lr|gamma)` and `(learning_rate|decay|rho)`"):
        build()
