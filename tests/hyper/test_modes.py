"""Hypergradient modes of a stack: one-step forward mode equals reverse mode, and the whole-run
forward mode equals ``jax.grad`` through the unrolled run (mu = 1) or the one-step hypergradient
(mu = 0). All in float64, where the modes differ only by rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import hyper


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _problem():
    """A smooth non-quadratic loss on a two-leaf pytree (full batch)."""
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(6, 4)))
    b = jnp.asarray(rng.normal(size=6))
    params = {"w": jnp.asarray(rng.normal(size=4)), "v": jnp.asarray([0.5, -1.0, 2.0])}

    def loss(p):
        return jnp.sum(jnp.tanh(a @ p["w"] - b) ** 2) + 0.1 * jnp.sum(p["v"] ** 4)

    return params, loss


def _mlp_problem():
    """A 3-5-2 tanh MLP with a squared error on 8 fixed samples."""
    rng = np.random.default_rng(2)
    x, y = jnp.asarray(rng.normal(size=(8, 3))), jnp.asarray(rng.normal(size=(8, 2)))
    params = {
        "hidden": {"kernel": jnp.asarray(0.5 * rng.normal(size=(3, 5))), "bias": jnp.zeros(5)},
        "out": {"kernel": jnp.asarray(0.5 * rng.normal(size=(5, 2))), "bias": jnp.zeros(2)},
    }

    def loss(p):
        h = jnp.tanh(x @ p["hidden"]["kernel"] + p["hidden"]["bias"])
        return jnp.mean((h @ p["out"]["kernel"] + p["out"]["bias"] - y) ** 2)

    return params, loss


def _quadratic_problem():
    rng = np.random.default_rng(3)
    w, y = jnp.asarray(rng.normal(size=(5, 5)) / 2), jnp.asarray(rng.normal(size=5))
    return jnp.zeros(5), lambda x: jnp.sum((w @ x - y) ** 2)


def _trace(opt, params, loss, steps, grad_fn=False):
    """Eager loop (compiling each stack costs more than running a few steps op by op); every
    level's hypergradients and hyperparameters after each update."""
    state = opt.init(params)
    seen = []
    for _ in range(steps):
        extra = {"grad_fn": jax.grad(loss)} if grad_fn else {}
        updates, state = opt.update(jax.grad(loss)(params), state, params, **extra)
        params = optax.apply_updates(params, updates)
        seen.append([(lvl.hypergradient, lvl.hyperparams) for lvl in state.levels])
    return params, seen


# Every level kind, learning every hyperparameter it can, in each parameterization it accepts.
LEVELS = {
    "sgd": lambda r: hyper.sgd(0.05, reparam=r),
    "momentum": lambda r: hyper.sgd(
        0.05, 0.7, learn=("learning_rate", "momentum"), reparam={"learning_rate": r}
    ),
    "adam": lambda r: hyper.adam(
        0.05, 0.8, 0.95, eps=1e-6, eps_root=1e-8, learn=("learning_rate", "b1", "b2"), reparam=r
    ),
    "adagrad": lambda r: hyper.adagrad(0.3, eps=1e-6, reparam=r),
    "rmsprop": lambda r: hyper.rmsprop(
        0.05, 0.8, eps=1e-6, learn=("learning_rate", "decay"), reparam={"learning_rate": r}
    ),
}
PARAMETERIZATIONS = ["raw", "log", "sqrt", "auto"]


@pytest.mark.parametrize(
    "rule, reparam, height",
    [(rule, reparam, 2) for rule in sorted(LEVELS) for reparam in PARAMETERIZATIONS]
    # Height 3 adds a learning level of its own kind (Adam), the same for every bottom level.
    + [(rule, "auto", 3) for rule in sorted(LEVELS)],
)
def test_forward_one_step_hypergradients_equal_reverse_mode(x64, rule, reparam, height):
    """Every level's hypergradient and hyperparameters, step by step, agree to rtol 1e-9."""
    if rule == "adam" and reparam == "sqrt":
        reparam = {"learning_rate": "sqrt", "b1": "sigmoid", "b2": "sigmoid"}
    elif rule == "adam" and reparam in ("raw", "log"):
        reparam = {"learning_rate": reparam, "b1": "raw", "b2": "raw"}
    params, loss = _problem()
    # eps = 1e-4: Adam's first step does not depend on b1, so the first hypergradient of b1 is a
    # rounding error (1e-17) in both modes, which eps = 1e-8 would make a 1e-9 step of the middle
    # level, different in each mode.
    middle = [hyper.adam(0.01, eps=1e-4, learn=("learning_rate", "b1"))] * (height - 2)
    traces = {}
    for mode in ("forward", "reverse"):
        opt = hyper.stack(LEVELS[rule](reparam), *middle, hyper.sgd(0.02), mode=mode)
        traces[mode] = _trace(opt, params, loss, 4)  # level 2 learns from update 3 on
    (p_fwd, fwd), (p_rev, rev) = traces["forward"], traces["reverse"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15), fwd, rev)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9), p_fwd, p_rev)
    moved = fwd[-1][0][1]["learning_rate"] != fwd[0][0][1]["learning_rate"]
    assert moved  # The hypergradients did act.


def _unrolled_loss(plain, params, loss, steps):
    """f(theta_T) after ``steps`` updates of the plain optimizer ``plain``."""
    state = plain.init(params)
    for _ in range(steps):
        updates, state = plain.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    return loss(params)


PLAIN = {
    "sgd": (lambda r: hyper.sgd(0.05, reparam=r), optax.sgd),
    "momentum": (
        lambda r: hyper.sgd(0.05, 0.6, learn={"learning_rate": r}),
        lambda lr: optax.sgd(lr, momentum=0.6),
    ),
    "adam": (
        lambda r: hyper.adam(0.05, learn={"learning_rate": r}),
        lambda lr: optax.adam(lr, eps_root=1e-16),
    ),
}


@pytest.mark.parametrize(
    "problem, reparam",
    [(_mlp_problem, "log"), (_quadratic_problem, "raw")],
    ids=["mlp-log", "quadratic-raw"],
)
@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_whole_run_mode_at_mu_1_is_the_gradient_through_the_unrolled_run(
    x64, rule, reparam, problem
):
    """With kappa = 0 (the step size stays put), the hypergradient at update T + 1 is
    d f(theta_T) / d phi through all T steps: ``jax.grad`` of the unrolled plain optimizer."""
    params, loss = problem()
    make, plain = PLAIN[rule]
    steps = 5
    opt = hyper.stack(make(reparam), hyper.sgd(0.0), mode="run", discount=1.0)
    _, seen = _trace(opt, params, loss, steps + 1, grad_fn=True)
    ours = seen[-1][0][0]["learning_rate"]
    forward = {"raw": lambda phi: phi, "log": jnp.exp}[reparam]
    phi0 = {"raw": 0.05, "log": np.log(0.05)}[reparam]
    expected = jax.grad(lambda phi: _unrolled_loss(plain(forward(phi)), params, loss, steps))(
        jnp.asarray(phi0)
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    one_step = _trace(hyper.stack(make(reparam), hyper.sgd(0.0)), params, loss, steps + 1)[1]
    assert abs(ours - one_step[-1][0][0]["learning_rate"]) > 1e-3 * abs(ours)  # Not one-step.


@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_whole_run_mode_at_mu_0_is_the_one_step_hypergradient(x64, rule):
    params, loss = _problem()
    make = PLAIN[rule][0]
    run = hyper.stack(make("log"), hyper.sgd(0.05), mode="run", discount=0.0)
    one_step = hyper.stack(make("log"), hyper.sgd(0.05), mode="forward")
    (p_run, seen_run), (p_one, seen_one) = (
        _trace(run, params, loss, 10, grad_fn=True),
        _trace(one_step, params, loss, 10),
    )
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10), seen_run, seen_one)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10), p_run, p_one)


def test_discounting_interpolates_between_one_step_and_whole_run(x64):
    """The hypergradient with mu = 0.5 lies strictly between those of mu = 0 and mu = 1 on an SGD
    run where every term of the sum has the same sign (a convex quadratic, small step)."""
    params, loss = _quadratic_problem()
    values = {}
    for mu in (0.0, 0.5, 1.0):
        opt = hyper.stack(hyper.sgd(0.02), hyper.sgd(0.0), mode="run", discount=mu)
        values[mu] = _trace(opt, params, loss, 12, grad_fn=True)[1][-1][0][0]["learning_rate"]
    assert values[0.0] > values[0.5] > values[1.0]  # More negative: more of the run counted.


@pytest.mark.parametrize("mode", ["forward", "reverse", "run"])
def test_modes_run_under_jit_vmap_scan_and_in_an_optax_chain(x64, mode):
    """A chain of clipping and a stack, jitted, vmapped over two starts and scanned, equals the
    eager loop of the stack on clipped gradients."""
    params, loss = _mlp_problem()
    stack = hyper.stack(
        hyper.adam(0.02), hyper.sgd(), mode=mode, discount=0.9 if mode == "run" else 1.0
    )
    chained = optax.chain(optax.clip_by_global_norm(1.0), stack)
    clip = optax.clip_by_global_norm(1.0)

    def clipped_grad(p):
        return clip.update(jax.grad(loss)(p), clip.init(p))[0]

    def run(scale):
        def body(carry, _):
            p, s = carry
            updates, s = chained.update(jax.grad(loss)(p), s, p, grad_fn=clipped_grad)
            return (optax.apply_updates(p, updates), s), None

        start = jax.tree.map(lambda x: scale * x, params)
        return jax.lax.scan(body, (start, chained.init(start)), length=12)[0]

    final, chain_state = jax.jit(jax.vmap(run))(jnp.array([1.0, 1.5]))

    p = jax.tree.map(lambda x: 1.5 * x, params)
    state = stack.init(p)
    for _ in range(12):
        updates, state = stack.update(clipped_grad(p), state, p, grad_fn=clipped_grad)
        p = optax.apply_updates(p, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[1], b, rtol=1e-10), final, p)
    lr = hyper.hyperparams(chain_state)[0]["learning_rate"]
    np.testing.assert_allclose(lr[1], state.levels[0].hyperparams["learning_rate"], rtol=1e-10)
    assert not np.allclose(lr[1], 0.02)


def test_mode_options_are_checked():
    with pytest.raises(ValueError, match="mode='backward'.*expected one of"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="backward")
    with pytest.raises(ValueError, match=r"discount mu must lie in \[0, 1\]"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="run", discount=1.5)
    with pytest.raises(ValueError, match="discounts the whole-run tangents of mode='run'"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), discount=0.5)
    with pytest.raises(ValueError, match="growth ratio must be > 1"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), guard=1.0)
    opt = hyper.stack(hyper.sgd(0.1), hyper.sgd(), mode="run")
    params = jnp.ones(3)
    with pytest.raises(ValueError, match="needs `params` and the keyword argument `grad_fn`"):
        opt.update(params, opt.init(params), params)


def test_memory_of_each_mode_is_k_copies_never_one_per_step():
    """State sizes in units of the parameters: forward k, reverse 1 + the rule's state, run k (1 +
    the rule's state); independent of the number of steps taken."""
    params = {"w": jnp.zeros((30, 20)), "b": jnp.zeros(20)}
    size = sum(x.size for x in jax.tree.leaves(params))

    def extra(mode, level):
        opt = hyper.stack(level, hyper.sgd(), mode=mode)
        state = opt.init(params)
        lvl = state.levels[0]
        kept = (lvl.tangent, lvl.state_tangent, lvl.previous_rule_state, lvl.previous_grad)
        return sum(x.size for x in jax.tree.leaves(kept)) / size

    adam3 = hyper.adam(1e-3, learn=("learning_rate", "b1", "b2"))
    assert extra("forward", adam3) == 3  # Three tangents.
    assert extra("reverse", adam3) == pytest.approx(3, abs=0.01)  # Gradient, mu, nu (+ count).
    assert extra("run", adam3) == 3 * 3  # Three tangents of theta, mu and nu.
    assert extra("forward", hyper.sgd(0.1)) == 1
    assert extra("run", hyper.sgd(0.1)) == 1  # SGD has no float state.


def test_whole_run_tangents_that_overflow_restart_from_zero(x64):
    """A non-finite carried tangent costs one skipped hyper-step, not every later one: the next
    tangent is the one-step tangent (as if mu were 0 once) and learning goes on."""
    params, loss = _quadratic_problem()
    opt = hyper.stack(hyper.sgd(0.02), hyper.sgd(), mode="run", discount=1.0)
    state = opt.init(params)
    grad_fn = jax.grad(loss)
    for _ in range(3):
        updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
    poisoned = state.levels[0]._replace(tangent=jnp.full_like(state.levels[0].tangent, jnp.inf))
    state = state._replace(levels=(poisoned, *state.levels[1:]))
    updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
    assert int(state.levels[0].skipped) == 1
    # The new tangent is d step / d log(alpha) of this update alone: the step itself.
    np.testing.assert_allclose(state.levels[0].tangent[0], updates, rtol=1e-12)
    alpha = float(state.levels[0].hyperparams["learning_rate"])
    params = optax.apply_updates(params, updates)
    for _ in range(3):
        updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
    assert int(state.levels[0].skipped) == 1
    assert float(state.levels[0].hyperparams["learning_rate"]) != alpha  # learning went on
