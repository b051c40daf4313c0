"""optax's conventions: its argument names, schedules for ``learning_rate``, and the old names.

* every factory's arguments are optax's names for the same hyperparameters (checked against
  ``inspect.signature`` of the optax function with the same rule);
* a schedule gives the parameters optax gives with the same schedule (rules optax runs), or those
  of a float64 NumPy recurrence with the schedule's value at each step (rules written here);
* ``lr`` and ``gamma`` still work for one release: a ``DeprecationWarning`` naming the new spelling,
  and the same numbers as the new name.
"""

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import l2l
from l2l.optimizers import (
    OPTIMIZERS,
    adadelta,
    adagrad,
    adam,
    adamax,
    make,
    momentum,
    nesterov,
    rmsprop,
    sgd,
    smoothed_nesterov,
)

# --------------------------------------------------------------------------- names

# The optax function with the same rule as each factory (momentum and Nesterov are optax.sgd's).
OPTAX_TWIN = {
    "sgd": optax.sgd,
    "momentum": optax.sgd,
    "nesterov": optax.sgd,
    "smoothed_nesterov": optax.sgd,
    "adagrad": optax.adagrad,
    "rmsprop": optax.rmsprop,
    "adadelta": optax.adadelta,
    "adam": optax.adam,
    "adamax": optax.adamax,
}
OURS_ONLY = {"points", "initial_delta"}  # Hyperparameters optax's rules do not have.


def _parameters(fn):
    return list(inspect.signature(fn).parameters)


def test_every_factory_has_an_optax_twin():
    assert set(OPTAX_TWIN) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTAX_TWIN))
def test_factory_takes_optax_argument_names(name):
    ours = _parameters(OPTIMIZERS[name])
    theirs = _parameters(OPTAX_TWIN[name])
    assert "learning_rate" in ours
    assert set(ours) - OURS_ONLY <= set(theirs), f"not optax's names: {set(ours) - set(theirs)}"
    # The old spellings are not part of the signature (they are accepted, deprecated, on the side).
    assert not {"lr", "gamma"} & set(ours)
    if name != "adadelta":  # Adadelta keeps Zeiler's order: rho, eps, initial_delta, then the rate.
        assert ours[0] == theirs[0] == "learning_rate"


def test_the_renamed_hyperparameters_are_the_ones_optax_calls_so():
    """The momentum coefficient, RMSProp's decay and Adadelta's rho, by optax's keyword."""
    assert _parameters(momentum) == ["learning_rate", "momentum"]
    assert _parameters(nesterov) == ["learning_rate", "momentum"]
    assert _parameters(smoothed_nesterov) == ["learning_rate", "momentum", "points"]
    assert _parameters(rmsprop) == ["learning_rate", "decay", "eps"]
    assert _parameters(adadelta) == ["rho", "eps", "initial_delta", "learning_rate"]
    assert _parameters(adam) == ["learning_rate", "b1", "b2", "eps", "eps_root"]
    assert _parameters(adamax) == ["learning_rate", "b1", "b2", "eps"]


def test_help_names_the_arguments_and_schedules():
    doc = l2l.optimizers.__doc__
    assert "rmsprop(learning_rate=0.001, decay=0.9, eps=1e-8)" in doc
    assert "schedule" in doc and "DeprecationWarning" in doc


# --------------------------------------------------------------------------- schedules

# A smooth schedule that stops decaying at step 20 of 30, and one that jumps twice.
COSINE = optax.cosine_decay_schedule(0.05, 20, alpha=0.1)
JUMPS = optax.piecewise_constant_schedule(0.05, {10: 0.2, 20: 3.0})


def cosine_np(count):
    return 0.05 * (0.9 * 0.5 * (1 + np.cos(np.pi * min(count, 20) / 20)) + 0.1)


def jumps_np(count):
    return 0.05 * (0.2 if count >= 10 else 1.0) * (3.0 if count >= 20 else 1.0)


SCHEDULES = {"cosine": (COSINE, cosine_np), "jumps": (JUMPS, jumps_np)}


def test_numpy_schedules_are_the_optax_ones(x64):
    for schedule, oracle in SCHEDULES.values():
        for count in range(31):
            np.testing.assert_allclose(float(schedule(count)), oracle(count), rtol=1e-14)


# Rules that optax runs: the schedule is handed to optax as it is.
OPTAX_BACKED = {
    "sgd": (lambda s: sgd(s), lambda s: optax.sgd(s)),
    "adagrad": (
        lambda s: adagrad(s, eps=1e-3),
        lambda s: optax.adagrad(s, initial_accumulator_value=0.0, eps=1e-3),
    ),
    "rmsprop": (
        lambda s: rmsprop(s, decay=0.8, eps=1e-4),
        lambda s: optax.rmsprop(s, decay=0.8, eps=1e-4),
    ),
    "adam": (
        lambda s: adam(s, b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-4),
        lambda s: optax.adam(s, b1=0.8, b2=0.95, eps=1e-3, eps_root=1e-4),
    ),
    # Written here, but optax has the same rule for these settings (see test_adaptive.py).
    "adadelta-zero-start": (
        lambda s: adadelta(rho=0.7, eps=1e-4, learning_rate=s),
        lambda s: optax.adadelta(s, rho=0.7, eps=1e-4),
    ),
    "adamax-tiny-eps": (
        lambda s: adamax(s, b1=0.8, b2=0.9, eps=1e-30),
        lambda s: optax.adamax(s, b1=0.8, b2=0.9, eps=1e-30),
    ),
}


@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
@pytest.mark.parametrize("name", sorted(OPTAX_BACKED))
def test_schedule_gives_what_optax_gives_with_it(
    name, schedule_name, x64, grad_sequence, initial_params, run_updates, assert_trees_close
):
    ours, theirs = OPTAX_BACKED[name]
    schedule, _ = SCHEDULES[schedule_name]
    actual = run_updates(ours(schedule), grad_sequence, initial_params)
    assert actual[0]["w"].dtype == np.float64
    assert_trees_close(actual, run_updates(theirs(schedule), grad_sequence, initial_params), 1e-9)
    # ... and the schedule did change the steps.
    constant = run_updates(ours(0.05), grad_sequence, initial_params)
    assert not np.allclose(actual[-1]["w"], constant[-1]["w"])


# --- Our own rules: NumPy float64 recurrences, step t using eta(t - 1).


def momentum_oracle(eta, gamma):
    def rule(grads):
        v = np.zeros_like(grads[0])
        for t, g in enumerate(grads, start=1):
            v = gamma * v + eta(t - 1) * g  # The velocity carries each step's own step size.
            yield -v

    return rule


def sutskever_nesterov_oracle(eta, gamma):
    def rule(grads):
        v = np.zeros_like(grads[0])
        for t, g in enumerate(grads, start=1):
            v = gamma * v + eta(t - 1) * g
            yield -(gamma * v + eta(t - 1) * g)

    return rule


def adadelta_oracle(eta, rho, eps, initial_delta):
    def rule(grads):
        E = np.zeros_like(grads[0])
        D = np.full_like(grads[0], initial_delta)
        for t, g in enumerate(grads, start=1):
            E = rho * E + (1 - rho) * g**2
            s = np.sqrt(D + eps) / np.sqrt(E + eps) * g
            D = rho * D + (1 - rho) * s**2
            yield -eta(t - 1) * s

    return rule


def adamax_oracle(eta, b1, b2, eps):
    def rule(grads):
        m = np.zeros_like(grads[0])
        u = np.zeros_like(grads[0])
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            u = np.maximum(b2 * u, np.abs(g))
            yield -eta(t - 1) / (1 - b1**t) * m / (u + eps)

    return rule


OWN_RULES = {
    "momentum": (lambda s: momentum(s, 0.8), lambda e: momentum_oracle(e, 0.8)),
    "nesterov-without-grad_fn": (
        lambda s: nesterov(s, 0.8),
        lambda e: sutskever_nesterov_oracle(e, 0.8),
    ),
    "adadelta-big-start": (
        lambda s: adadelta(0.95, 1e-6, initial_delta=50.0, learning_rate=s),
        lambda e: adadelta_oracle(e, 0.95, 1e-6, 50.0),
    ),
    "adamax": (lambda s: adamax(s, 0.8, 0.9, eps=0.1), lambda e: adamax_oracle(e, 0.8, 0.9, 0.1)),
}


@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
@pytest.mark.parametrize("name", sorted(OWN_RULES))
def test_own_rule_with_a_schedule_matches_numpy_recurrence(
    name,
    schedule_name,
    x64,
    grad_sequence,
    initial_params,
    run_updates,
    leafwise,
    assert_trees_close,
):
    ours, oracle = OWN_RULES[name]
    schedule, eta = SCHEDULES[schedule_name]
    actual = run_updates(ours(schedule), grad_sequence, initial_params)
    assert actual[0]["w"].dtype == np.float64
    assert_trees_close(actual, leafwise(oracle(eta), grad_sequence), rtol=1e-9)


@pytest.mark.parametrize("name", sorted(OWN_RULES))
def test_constant_learning_rate_is_unchanged_by_the_step_count(
    name, x64, grad_sequence, initial_params, run_updates, leafwise
):
    """A float, a constant schedule and today's recurrence give the same numbers, bit for bit."""
    ours, oracle = OWN_RULES[name]
    as_float = run_updates(ours(0.05), grad_sequence, initial_params)
    as_schedule = run_updates(ours(optax.constant_schedule(0.05)), grad_sequence, initial_params)
    jax.tree.map(np.testing.assert_array_equal, as_float, as_schedule)
    expected = leafwise(oracle(lambda count: 0.05), grad_sequence)
    jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-9), as_float, expected)


def test_momentum_with_a_schedule_keeps_past_step_sizes_unlike_optax(
    x64, grad_sequence, initial_params, run_updates, assert_trees_close
):
    """The documented difference: optax rescales its whole trace by the current step size."""
    ours = run_updates(momentum(JUMPS, 0.8), grad_sequence, initial_params)
    theirs = run_updates(optax.sgd(JUMPS, momentum=0.8), grad_sequence, initial_params)
    # Before the first jump (count 10, i.e. step 11) the two agree; from the jump on they do not.
    assert_trees_close(ours[:10], theirs[:10], rtol=1e-9)
    assert not np.allclose(ours[10]["w"], theirs[10]["w"])
    # optax's step 11 is 0.2 times ours from the old velocity plus the same new-gradient term.
    for key in ("w", "b"):
        v10 = -ours[9][key]
        g11 = grad_sequence[10][key]
        np.testing.assert_allclose(ours[10][key], -(0.8 * v10 + 0.01 * g11), rtol=1e-9)
        np.testing.assert_allclose(theirs[10][key], -(0.2 * 0.8 * v10 + 0.01 * g11), rtol=1e-9)


# --- Look-ahead rules (they evaluate the gradient themselves) on a quadratic.


def _quadratic():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(3, 3))
    A = M @ M.T + 0.5 * np.eye(3)
    b = rng.normal(size=3)
    return A, b, np.array([1.0, -2.0, 0.5])


def _lookahead_numpy(A, b, theta0, eta, gamma, points, steps):
    """v_t = gamma v + eta(t-1) mean_k grad(theta - (k/K) gamma v); theta_t = theta - v_t."""
    theta, v, thetas = theta0.copy(), np.zeros_like(theta0), []
    for t in range(1, steps + 1):
        grads = [A @ (theta - k / points * gamma * v) - b for k in range(1, points + 1)]
        v = gamma * v + eta(t - 1) * np.mean(grads, axis=0)
        theta = theta - v
        thetas.append(theta)
    return np.array(thetas)


def _run_with_grad_fn(opt, A, b, theta0, steps):
    A, b = jnp.asarray(A), jnp.asarray(b)
    grad_fn = jax.grad(lambda p: 0.5 * p["x"] @ A @ p["x"] - b @ p["x"])
    params = {"x": jnp.asarray(theta0)}
    state = opt.init(params)
    thetas = []
    for _ in range(steps):
        updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
        thetas.append(np.asarray(params["x"]))
    return np.array(thetas), state


@pytest.mark.parametrize("points", [1, 3])
@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
def test_lookahead_rules_with_a_schedule_match_numpy(schedule_name, points, x64):
    A, b, theta0 = _quadratic()
    schedule, eta = SCHEDULES[schedule_name]
    expected = _lookahead_numpy(A, b, theta0, eta, 0.8, points, steps=25)
    opt = nesterov(schedule, 0.8) if points == 1 else smoothed_nesterov(schedule, 0.8, points)
    actual, state = _run_with_grad_fn(opt, A, b, theta0, steps=25)
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)
    assert int(state.count) == 25 and state.count.dtype == jnp.int32


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda s: momentum(s, 0.8),
        lambda s: nesterov(s, 0.8),
        lambda s: smoothed_nesterov(s, 0.8, points=2),
        lambda s: adadelta(learning_rate=s),
        lambda s: adamax(s),
        lambda s: adam(s),
    ],
    ids=["momentum", "nesterov", "smoothed_nesterov", "adadelta", "adamax", "adam"],
)
def test_schedule_under_jit_and_scan_matches_eager(make_opt):
    """float32, one jitted lax.scan: the step count is a stable int32 leaf, the numbers those of
    the eager loop."""
    A, b, theta0 = _quadratic()
    A, b = jnp.asarray(A, jnp.float32), jnp.asarray(b, jnp.float32)
    grad_fn = jax.grad(lambda p: 0.5 * p["x"] @ A @ p["x"] - b @ p["x"])
    opt = make_opt(COSINE)
    params = {"x": jnp.asarray(theta0, jnp.float32)}

    def body(carry, _):
        p, s = carry
        updates, s = opt.update(grad_fn(p), s, p, grad_fn=grad_fn)
        return (optax.apply_updates(p, updates), s), None

    (scanned, state), _ = jax.jit(
        lambda: jax.lax.scan(body, (params, opt.init(params)), length=25)
    )()
    p, s = params, opt.init(params)
    for _ in range(25):
        (p, s), _ = body((p, s), None)
    np.testing.assert_allclose(scanned["x"], p["x"], rtol=1e-5, atol=1e-6)
    counts = [leaf for leaf in jax.tree.leaves(state) if leaf.dtype == jnp.int32]
    assert counts and all(int(c) == 25 for c in counts)


def test_make_passes_a_schedule_on(x64, grad_sequence, initial_params, run_updates):
    by_name = make("momentum", learning_rate=JUMPS, momentum=0.8)
    by_name = run_updates(by_name, grad_sequence, initial_params)
    direct = run_updates(momentum(JUMPS, 0.8), grad_sequence, initial_params)
    jax.tree.map(np.testing.assert_array_equal, by_name, direct)


# --- A schedule in a chain, on a small model.


def test_adam_with_cosine_decay_in_a_clipping_chain_trains_a_small_model():
    """A 4-16-1 tanh network, full-batch regression, 100 steps; the clip acts at the start."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(128, 4)), jnp.float32)
    y = jnp.sin(x @ jnp.asarray([1.0, -2.0, 0.5, 1.5])) + 0.1 * x[:, 0] ** 2
    params = {
        "w1": jnp.asarray(rng.normal(size=(4, 16)) * 0.5, jnp.float32),
        "b1": jnp.zeros(16),
        "w2": jnp.asarray(rng.normal(size=(16,)) * 0.5, jnp.float32),
        "b2": jnp.zeros(()),
    }

    def loss(p):
        hidden = jnp.tanh(x @ p["w1"] + p["b1"])
        return jnp.mean((hidden @ p["w2"] + p["b2"] - y) ** 2)

    def train(opt):
        def body(carry, _):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), value

        (final, _), losses = jax.lax.scan(body, (params, opt.init(params)), length=100)
        return final, losses

    schedule = optax.cosine_decay_schedule(1e-2, 100)
    ours = optax.chain(optax.clip_by_global_norm(1.0), l2l.adam(learning_rate=schedule))
    reference = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    final, losses = jax.jit(train, static_argnums=0)(ours)
    reference_final, reference_losses = jax.jit(train, static_argnums=0)(reference)

    assert float(optax.tree.norm(jax.grad(loss)(params))) > 1.0  # The clip is not idle.
    first, last = float(losses[0]), float(loss(final))
    assert first == pytest.approx(1.4876, rel=1e-3)
    assert last == pytest.approx(0.4366, rel=1e-2)
    assert last < first / 3  # 1.488 -> 0.437: the loss falls by a factor of 3.4.
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-6)
    jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, rtol=1e-6), final, reference_final)
    # The same model with the step size held at its initial value ends elsewhere.
    constant = optax.chain(optax.clip_by_global_norm(1.0), l2l.adam(learning_rate=1e-2))
    constant_final, _ = jax.jit(train, static_argnums=0)(constant)
    assert abs(float(loss(constant_final)) - last) > 1e-4


# --------------------------------------------------------------------------- the old names

# (factory, old name, new name, value): every renamed argument of every factory.
RENAMED = [
    ("sgd", "lr", "learning_rate", 0.05),
    ("momentum", "lr", "learning_rate", 0.05),
    ("momentum", "gamma", "momentum", 0.7),
    ("nesterov", "lr", "learning_rate", 0.05),
    ("nesterov", "gamma", "momentum", 0.7),
    ("smoothed_nesterov", "lr", "learning_rate", 0.05),
    ("smoothed_nesterov", "gamma", "momentum", 0.7),
    ("adagrad", "lr", "learning_rate", 0.3),
    ("rmsprop", "lr", "learning_rate", 0.05),
    ("rmsprop", "gamma", "decay", 0.7),
    ("adadelta", "lr", "learning_rate", 0.5),
    ("adadelta", "gamma", "rho", 0.7),
    ("adam", "lr", "learning_rate", 0.05),
    ("adamax", "lr", "learning_rate", 0.05),
]
RENAMED_IDS = [f"{name}-{old}" for name, old, _, _ in RENAMED]


def _warning_pattern(name, old, new):
    return re.escape(f"l2l.{name}: `{old}` is deprecated; use `{new}` (optax's name).")


def _trajectory(opt):
    """Eight steps on a quadratic, the gradient function passed (the look-ahead rules need it)."""
    A, b, theta0 = _quadratic()
    return _run_with_grad_fn(opt, A, b, theta0, steps=8)[0]


def test_every_old_name_is_listed():
    listed = {(name, old) for name, old, _, _ in RENAMED}
    declared = {(name, old) for name, f in OPTIMIZERS.items() for old in f.old_names}
    assert listed == declared
    for name, old, new, _ in RENAMED:
        assert OPTIMIZERS[name].old_names[old] == new


@pytest.mark.parametrize("name, old, new, value", RENAMED, ids=RENAMED_IDS)
def test_old_name_warns_and_gives_the_same_numbers(name, old, new, value, x64):
    factory = OPTIMIZERS[name]
    with pytest.warns(DeprecationWarning, match=_warning_pattern(name, old, new)) as record:
        old_spelling = factory(**{old: value})
    assert record[0].filename == __file__  # Blamed on the caller, so Python shows it.
    expected = _trajectory(factory(**{new: value}))
    np.testing.assert_array_equal(_trajectory(old_spelling), expected)
    # The value did matter: the default gives another path.
    assert not np.allclose(_trajectory(factory()), expected)

    with pytest.warns(DeprecationWarning, match=_warning_pattern(name, old, new)) as record:
        by_name = make(name, **{old: value})
    assert record[0].filename == __file__
    np.testing.assert_array_equal(_trajectory(by_name), expected)


@pytest.mark.parametrize("name, old, new, value", RENAMED, ids=RENAMED_IDS)
def test_old_and_new_name_together_is_a_type_error(name, old, new, value):
    message = rf"l2l\.{name}: got both `{old}` and `{new}`.*pass only `{new}`"
    with pytest.raises(TypeError, match=message):
        OPTIMIZERS[name](**{old: value, new: value})
    with pytest.raises(TypeError, match=message):
        make(name, **{old: value, new: value})
    # A positional value is the new name too.
    position = _parameters(OPTIMIZERS[name]).index(new)
    args = [p.default for p in inspect.signature(OPTIMIZERS[name]).parameters.values()]
    with pytest.raises(TypeError, match=message):
        OPTIMIZERS[name](*args[: position + 1], **{old: value})


def test_old_names_work_together_and_under_jit():
    """The tuner's call, unchanged: make(name, lr=traced, gamma=...) under jit."""
    params = {"x": jnp.array([1.0, -2.0])}
    grads = {"x": jnp.array([0.5, 0.25])}

    @jax.jit
    def first_update(lr):
        opt = make("rmsprop", lr=lr, gamma=0.5)
        return opt.update(grads, opt.init(params), params)[0]["x"]

    with pytest.warns(
        DeprecationWarning, match=r"l2l\.rmsprop: `(lr|gamma)` is deprecated"
    ) as record:
        old = first_update(0.1)
    assert sorted(str(w.message) for w in record) == [
        "l2l.rmsprop: `gamma` is deprecated; use `decay` (optax's name).",
        "l2l.rmsprop: `lr` is deprecated; use `learning_rate` (optax's name).",
    ]
    reference = optax.rmsprop(0.1, decay=0.5)
    new = reference.update(grads, reference.init(params))[0]["x"]
    np.testing.assert_allclose(old, new, rtol=1e-6)
