"""The guards of ``l2l.hyper.guard``. The divergence guard alone: the growth ratio, and the cut of
a step size by it on the second update in a row that grew by more than the limit (through a stack:
``tests/hyper/test_defaults.py``). The loss guard through a stack (``stack(rollback=...)``): when it
changes nothing, where a rollback returns, and what the run is after one."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import hyper
from l2l.hyper import guard, reparam


def test_growth_is_the_ratio_of_gradient_norms_and_1_before_there_are_two():
    np.testing.assert_allclose(guard.growth(jnp.asarray(6.0), jnp.asarray(2.0), 3), 3.0)
    assert float(guard.growth(jnp.asarray(6.0), jnp.asarray(0.0), 0)) == 1.0  # First update.
    assert float(guard.growth(jnp.asarray(jnp.inf), jnp.asarray(2.0), 3)) == 1.0
    np.testing.assert_allclose(guard.growth(jnp.asarray(6.0), jnp.asarray(0.0), 3), 6.0)


def test_the_step_size_is_divided_by_the_growth_when_it_grew_twice_in_a_row():
    """alpha -> alpha / r in each parameterization of a step size, only when r_{t-1} and r_t both
    exceed the limit; never out of the parameterization's box."""
    for name in ("log", "raw", "sqrt"):
        parameterization = reparam.REPARAMETERIZATIONS[name]
        phi = jnp.asarray(parameterization.inverse(0.5), jnp.float32)
        for previous, now, fires in [(3.0, 4.0, True), (1.5, 4.0, False), (3.0, 1.5, False)]:
            cut, fired = guard.cut_step_size(phi, parameterization, jnp.asarray(now), previous, 2.0)
            assert bool(fired) == fires
            expected = 0.5 / now if fires else 0.5
            np.testing.assert_allclose(parameterization.forward(cut), expected, rtol=1e-6)
    log = reparam.REPARAMETERIZATIONS["log"]
    cut, _ = guard.cut_step_size(jnp.asarray(-68.0), log, jnp.asarray(1e30), 3.0, 2.0)
    assert float(cut) == -69.0  # Projected into the box.


# The loss guard (stack(rollback=...)): full-batch quadratics, so every loss is deterministic.
CURVATURE = jnp.asarray([1.0, 10.0])
START = jnp.asarray([1.0, 1.0])


def _loss(p):
    return 0.5 * jnp.sum(CURVATURE * p**2)


def _run(opt, steps, values=None, params=START):
    """``steps`` updates from ``params``, the loss given as ``value`` (or ``values[t]``); the
    parameters after each update and the last state."""
    state, trajectory = opt.init(params), []
    for t in range(steps):
        value, grads = jax.value_and_grad(_loss)(params)
        value = value if values is None else jnp.asarray(values[t])
        updates, state = opt.update(grads, state, params, value=value)
        params = optax.apply_updates(params, updates)
        trajectory.append(params)
    return np.stack(trajectory), state


def test_the_loss_guard_changes_nothing_while_every_loss_is_accepted():
    """From a stable step size no loss exceeds twice the running mean: the guarded stack is the
    plain one, update for update, and never rolls back."""
    plain, _ = _run(hyper.stack(hyper.sgd(0.05), hyper.sgd()), 30)
    guarded, state = _run(hyper.stack(hyper.sgd(0.05), hyper.sgd(), rollback=2.0), 30)
    np.testing.assert_array_equal(guarded, plain)
    assert int(hyper.rolled_back(state)) == 0


def test_one_rejected_loss_is_noise_two_in_a_row_roll_back():
    """A single loss above 2x the running mean changes nothing; a second one in a row takes the
    parameters back to the last accepted point (where the first rejected loss was measured
    from), with level 0's step size halved."""
    plain, _ = _run(hyper.stack(hyper.sgd(0.05), hyper.sgd()), 6)
    opt = hyper.stack(hyper.sgd(0.05), hyper.sgd(), rollback=2.0)
    one, state = _run(opt, 6, values=[1.0, 1.0, 9.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(one, plain)
    assert int(hyper.rolled_back(state)) == 0
    two, state = _run(opt, 4, values=[1.0, 1.0, 9.0, 9.0])
    # Update t is made from the parameters after update t - 1; the last accepted loss is that
    # of update 1, whose parameters (after update 0) are where the rollback returns.
    np.testing.assert_array_equal(two[:3], plain[:3])
    np.testing.assert_array_equal(two[3], plain[0])
    assert int(hyper.rolled_back(state)) == 1
    # The restored state is the one update 1 was made with, its step size halved.
    _, reference = _run(hyper.stack(hyper.sgd(0.05), hyper.sgd()), 1)
    before = reference.levels[0].raw["learning_rate"]
    restored = hyper.find_state(state).levels[0].raw["learning_rate"]
    np.testing.assert_allclose(float(jnp.exp(restored)), float(jnp.exp(before)) / 2, rtol=1e-6)


def test_a_non_finite_loss_rolls_back_at_once():
    opt = hyper.stack(hyper.sgd(0.05), hyper.sgd(), rollback=2.0)
    plain, _ = _run(hyper.stack(hyper.sgd(0.05), hyper.sgd()), 3)
    out, state = _run(opt, 3, values=[1.0, 1.0, np.inf])
    np.testing.assert_array_equal(out[:2], plain[:2])
    np.testing.assert_array_equal(out[2], plain[0])  # Back to where the accepted loss 1 was.
    assert int(hyper.rolled_back(state)) == 1


def test_after_a_rollback_the_run_is_a_fresh_run_at_half_the_step_size():
    """From a step size that throws the quadratic out (alpha h = 3 on the stiff axis), the
    losses after its first two updates are rejected and the third update returns to the start
    with alpha / 2: from then on it is, update for update, a fresh guarded stack started at
    alpha / 2 (same running mean of the deterministic loss, no rejected loss pending)."""
    alpha = 0.3
    out, state = _run(hyper.stack(hyper.sgd(alpha), hyper.sgd(), rollback=2.0), 23)
    np.testing.assert_array_equal(out[2], START)
    fresh, fresh_state = _run(hyper.stack(hyper.sgd(alpha / 2), hyper.sgd(), rollback=2.0), 20)
    np.testing.assert_allclose(out[3:], fresh, rtol=1e-6, atol=1e-7)
    assert int(hyper.rolled_back(state)) == int(hyper.rolled_back(fresh_state)) + 1
    assert float(_loss(out[-1])) < 1e-3 * float(_loss(START))


def test_under_scan_vmap_and_an_optax_chain_the_loss_guard_reads_the_unrolls_value():
    """l2l.unroll passes ``value``; a chain passes it on; the guard holds the loss below its
    start where the unguarded stack (raw parameterization, no divergence guard) blows up."""
    from l2l import unroll
    from l2l.tasks import QuadraticConfig

    task = QuadraticConfig(dim=10).build()
    keys = unroll.instance_keys(seed=0, which=unroll.TEST_SET, num=4)

    def make(rollback):
        return optax.chain(
            optax.identity(),
            hyper.stack(
                hyper.sgd(1.0, reparam="raw"), hyper.sgd(1e-6), guard=None, rollback=rollback
            ),
        )

    free = unroll.run_optimizer(make(None), task, keys, steps=30)
    held = unroll.run_optimizer(make(2.0), task, keys, steps=30)
    assert not np.all(np.asarray(free[:, -1]) < np.asarray(free[:, 0]))
    assert np.all(np.asarray(held[:, -1]) < np.asarray(held[:, 0]))


def test_loss_guard_mistakes_are_one_line_errors():
    import pytest

    params = {"w": jnp.ones(2)}
    opt = hyper.stack(hyper.sgd(0.1), hyper.sgd(), rollback=2.0)
    with pytest.raises(ValueError, match="needs `params` and the keyword argument `value`"):
        opt.update(params, opt.init(params), params)
    with pytest.raises(ValueError, match="the loss guard's ratio must be > 1"):
        hyper.stack(hyper.sgd(0.1), hyper.sgd(), rollback=1.0)
    with pytest.raises(ValueError, match="does not learn 'learning_rate'"):
        hyper.stack(hyper.sgd(0.1, momentum=0.9, learn=("momentum",)), hyper.sgd(), rollback=2.0)
    with pytest.raises(ValueError, match="has no loss guard"):
        hyper.rolled_back(hyper.stack(hyper.sgd(0.1), hyper.sgd()).init(params))
