"""sgd, momentum, nesterov, smoothed_nesterov against NumPy float64 recurrences and optax.

The oracle comparisons run with float64 enabled in JAX (the ``x64`` fixture) and hold the
optimizers to 1e-6 relative.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l.optimizers import MomentumState, momentum, nesterov, sgd, smoothed_nesterov

LR, GAMMA = 0.05, 0.8

# --- Fixed gradient sequence: NumPy oracles per leaf (generators yielding updates).


def sgd_oracle(lr):
    def rule(grads):
        for g in grads:
            yield -lr * g

    return rule


def momentum_oracle(lr, gamma):
    def rule(grads):
        v = np.zeros_like(grads[0])
        for g in grads:
            v = gamma * v + lr * g
            yield -v

    return rule


def sutskever_nesterov_oracle(lr, gamma):
    """Updates of phi_t = theta_t - gamma v_t when g_t is the gradient at phi_{t-1}."""

    def rule(grads):
        v = np.zeros_like(grads[0])
        for g in grads:
            v_new = gamma * v + lr * g
            # phi_t - phi_{t-1} = (theta_t - gamma v_t) - (theta_{t-1} - gamma v_{t-1}).
            yield -v_new - gamma * v_new + gamma * v
            v = v_new

    return rule


@pytest.mark.parametrize(
    "opt, oracle",
    [
        (sgd(LR), sgd_oracle(LR)),
        (momentum(LR, GAMMA), momentum_oracle(LR, GAMMA)),
        (nesterov(LR, GAMMA), sutskever_nesterov_oracle(LR, GAMMA)),
    ],
    ids=["sgd", "momentum", "nesterov-without-grad_fn"],
)
def test_matches_numpy_float64_recurrence(
    opt, oracle, x64, grad_sequence, initial_params, run_updates, leafwise, assert_trees_close
):
    actual = run_updates(opt, grad_sequence, initial_params)
    assert actual[0]["w"].dtype == np.float64
    assert_trees_close(actual, leafwise(oracle, grad_sequence), rtol=1e-6)


@pytest.mark.parametrize(
    "ours, reference",
    [
        (sgd(LR), optax.sgd(LR)),
        (momentum(LR, GAMMA), optax.sgd(LR, momentum=GAMMA)),
        (nesterov(LR, GAMMA), optax.sgd(LR, momentum=GAMMA, nesterov=True)),
    ],
    ids=["sgd", "momentum", "nesterov-without-grad_fn"],
)
def test_equivalent_to_optax_sgd(
    ours, reference, x64, grad_sequence, initial_params, run_updates, assert_trees_close
):
    assert_trees_close(
        run_updates(ours, grad_sequence, initial_params),
        run_updates(reference, grad_sequence, initial_params),
        rtol=1e-9,
    )


# --- Nesterov on a quadratic f(theta) = 0.5 theta^T A theta - b^T theta, theta split in a tuple.

STEPS = 25


def _quadratic():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(3, 3))
    A = M @ M.T + 0.5 * np.eye(3)  # symmetric positive definite
    b = rng.normal(size=3)
    theta0 = np.array([1.0, -2.0, 0.5])
    return A, b, theta0


def _split(theta):
    return (jnp.asarray(theta[:2]), {"z": jnp.asarray(theta[2:])})


def _join(params):
    return np.concatenate([np.asarray(params[0]), np.asarray(params[1]["z"])])


def _loss_fn(A, b):
    A, b = jnp.asarray(A), jnp.asarray(b)

    def loss(params):
        theta = jnp.concatenate([params[0], params[1]["z"]])
        return 0.5 * theta @ A @ theta - b @ theta

    return loss


def textbook_nesterov(A, b, theta0, lr, gamma, points=1, steps=STEPS):
    """NumPy: v_t = gamma v + lr mean_k grad(theta - (k/K) gamma v); theta_t = theta - v_t."""
    theta, v = theta0.copy(), np.zeros_like(theta0)
    thetas, velocities = [], []
    for _ in range(steps):
        grads = [A @ (theta - k / points * gamma * v) - b for k in range(1, points + 1)]
        v = gamma * v + lr * np.mean(grads, axis=0)
        theta = theta - v
        thetas.append(theta)
        velocities.append(v)
    return np.array(thetas), np.array(velocities)


def run_on_quadratic(opt, A, b, theta0, *, pass_grad_fn, steps=STEPS):
    """Runs opt eagerly, grads taken at the current params; returns the (steps, 3) trajectory."""
    loss = _loss_fn(A, b)
    grad_fn = jax.grad(loss)
    params = _split(theta0)
    state = opt.init(params)
    trajectory = []
    for _ in range(steps):
        extra = {"grad_fn": grad_fn} if pass_grad_fn else {}
        updates, state = opt.update(grad_fn(params), state, params, **extra)
        params = optax.apply_updates(params, updates)
        trajectory.append(_join(params))
    return np.array(trajectory)


def test_nesterov_with_grad_fn_follows_textbook_theta(x64):
    A, b, theta0 = _quadratic()
    expected, _ = textbook_nesterov(A, b, theta0, LR, GAMMA)
    actual = run_on_quadratic(nesterov(LR, GAMMA), A, b, theta0, pass_grad_fn=True)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-12)


def test_nesterov_without_grad_fn_follows_the_lookahead_iterate(x64):
    A, b, theta0 = _quadratic()
    thetas, velocities = textbook_nesterov(A, b, theta0, LR, GAMMA)
    actual = run_on_quadratic(nesterov(LR, GAMMA), A, b, theta0, pass_grad_fn=False)
    np.testing.assert_allclose(actual, thetas - GAMMA * velocities, rtol=1e-6, atol=1e-12)
    assert not np.allclose(actual, thetas)  # the two parametrisations report different points


def test_smoothed_nesterov_with_one_point_is_nesterov(x64):
    A, b, theta0 = _quadratic()
    smoothed = run_on_quadratic(
        smoothed_nesterov(LR, GAMMA, points=1), A, b, theta0, pass_grad_fn=True
    )
    plain = run_on_quadratic(nesterov(LR, GAMMA), A, b, theta0, pass_grad_fn=True)
    np.testing.assert_allclose(smoothed, plain, rtol=1e-12, atol=1e-14)


def test_smoothed_nesterov_matches_numpy(x64):
    A, b, theta0 = _quadratic()
    expected, _ = textbook_nesterov(A, b, theta0, LR, GAMMA, points=4)
    actual = run_on_quadratic(
        smoothed_nesterov(LR, GAMMA, points=4), A, b, theta0, pass_grad_fn=True
    )
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-12)
    nesterov_path, _ = textbook_nesterov(A, b, theta0, LR, GAMMA, points=1)
    assert not np.allclose(actual, nesterov_path)  # the smoothing does change the path


def test_modes_share_one_state_type():
    params = {"x": jnp.ones(2)}
    grad_fn = jax.grad(lambda p: jnp.sum(p["x"] ** 2))
    opt = nesterov()
    state = opt.init(params)
    _, with_fn = opt.update(params, state, params, grad_fn=grad_fn)
    _, without_fn = opt.update(params, state, params)
    assert type(with_fn) is type(without_fn) is MomentumState
    assert jax.tree.structure(with_fn) == jax.tree.structure(without_fn)


# --- Misuse gets errors that say what to do.


def test_smoothed_nesterov_without_grad_fn_says_what_to_pass():
    params = {"x": jnp.ones(2)}
    opt = smoothed_nesterov()
    state = opt.init(params)
    with pytest.raises(TypeError, match=r"grad_fn=jax\.grad\(loss\)"):
        opt.update(params, state, params)


@pytest.mark.parametrize("opt", [smoothed_nesterov(), nesterov()], ids=["smoothed", "nesterov"])
def test_lookahead_without_params_says_so(opt):
    params = {"x": jnp.ones(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"needs the current parameters.*params=None"):
        opt.update(params, state, None, grad_fn=jax.grad(lambda p: jnp.sum(p["x"] ** 2)))


def test_grad_fn_returning_value_and_grad_is_caught():
    params = {"x": jnp.ones(2)}
    opt = smoothed_nesterov(points=2)
    state = opt.init(params)
    value_and_grad = jax.value_and_grad(lambda p: jnp.sum(p["x"] ** 2))
    with pytest.raises(TypeError, match=r"not `jax\.value_and_grad"):
        opt.update(params, state, params, grad_fn=value_and_grad)


def test_points_must_be_a_positive_int():
    with pytest.raises(ValueError, match="points"):
        smoothed_nesterov(points=0)
    with pytest.raises(TypeError, match="points"):
        smoothed_nesterov(points=2.5)
