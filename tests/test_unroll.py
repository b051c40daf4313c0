import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import unroll as unroll_lib
from l2l.tasks import MLPClassifier, Quadratic


def test_sgd_loss_curve_equals_the_closed_form_recurrence():
    task = Quadratic(dim=4)
    inst = task.sample(jax.random.key(0))
    lr = 0.01
    curve = unroll_lib.loss_curve(
        optax.sgd(lr), task, inst, jax.random.key(1), jax.random.key(2), 15
    )
    W, y = np.asarray(inst.W, np.float64), np.asarray(inst.y, np.float64)
    theta = np.asarray(task.init(jax.random.key(1), inst), np.float64)
    expected = []
    for _ in range(16):
        r = W @ theta - y
        expected.append(r @ r)
        theta = theta - lr * 2 * W.T @ r
    np.testing.assert_allclose(np.asarray(curve), expected, rtol=2e-4)


def test_truncated_unrolls_tile_the_horizon():
    task = Quadratic(dim=3)
    inst = task.sample(jax.random.key(0))
    opt = optax.adam(0.1)
    state = unroll_lib.start(opt, task, inst, jax.random.key(1))
    whole_state, whole = unroll_lib.unroll(opt, task, inst, state, jax.random.key(2), 12)
    s, first = unroll_lib.unroll(opt, task, inst, state, jax.random.key(2), 5)
    s, second = unroll_lib.unroll(opt, task, inst, s, jax.random.key(2), 7)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-6)
    np.testing.assert_allclose(s.params, whole_state.params, rtol=1e-6)
    assert int(s.step) == 12


def test_minibatch_stream_is_indexed_by_the_global_step():
    rng = np.random.default_rng(0)
    task = MLPClassifier(
        jnp.asarray(rng.uniform(size=(64, 5)), jnp.float32),
        jnp.asarray(rng.integers(0, 10, 64), jnp.int32),
        hidden_sizes=(3,),
        batch_size=8,
    )
    opt = optax.sgd(0.5)
    state = unroll_lib.start(opt, task, None, jax.random.key(1))
    key = jax.random.key(7)
    _, losses = unroll_lib.unroll(opt, task, None, state, key, 3)
    # By hand: loss at theta_{t+1} on the minibatch of step t+1.
    p = state.params
    for t in range(3):
        g = jax.grad(task.loss)(p, None, jax.random.fold_in(key, t))
        p = jax.tree.map(lambda a, b: a - 0.5 * b, p, g)
        np.testing.assert_allclose(
            losses[t], task.loss(p, None, jax.random.fold_in(key, t + 1)), rtol=1e-5
        )


def test_look_ahead_optimizers_receive_grad_fn():
    """nesterov with the grad_fn the unroll passes follows the textbook recurrence exactly."""
    from l2l.optimizers import nesterov

    task = Quadratic(dim=3)
    inst = task.sample(jax.random.key(0))
    lr, gamma = 0.01, 0.9
    curve = unroll_lib.loss_curve(
        nesterov(lr, gamma), task, inst, jax.random.key(1), jax.random.key(2), 10
    )
    W, y = np.asarray(inst.W, np.float64), np.asarray(inst.y, np.float64)
    grad = lambda th: 2 * W.T @ (W @ th - y)  # noqa: E731
    theta = np.asarray(task.init(jax.random.key(1), inst), np.float64)
    v = np.zeros_like(theta)
    expected = []
    for _ in range(11):
        expected.append(np.sum((W @ theta - y) ** 2))
        v = gamma * v + lr * grad(theta - gamma * v)
        theta = theta - v
    np.testing.assert_allclose(np.asarray(curve), expected, rtol=2e-4)
