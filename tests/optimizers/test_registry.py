"""The registry (OPTIMIZERS, make) and the hyperparameter checks every factory shares."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import optimizers
from l2l.optimizers import OPTIMIZERS, UnknownOptimizerError, make

NAMES = [
    "sgd",
    "momentum",
    "nesterov",
    "smoothed_nesterov",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
]


def test_registry_names_the_whole_family_and_reexports_it():
    assert sorted(OPTIMIZERS) == sorted(NAMES)
    for name in NAMES:
        assert getattr(optimizers, name) is OPTIMIZERS[name]


def test_positional_order_follows_the_papers_notation():
    def params_of(name):
        return list(inspect.signature(OPTIMIZERS[name]).parameters)

    assert params_of("momentum") == ["learning_rate", "momentum"]
    assert params_of("smoothed_nesterov") == ["learning_rate", "momentum", "points"]
    assert params_of("rmsprop") == ["learning_rate", "decay", "eps"]
    # Zeiler's order, kept: a positional call that worked before means the same thing now.
    assert params_of("adadelta") == ["rho", "eps", "initial_delta", "learning_rate"]
    assert params_of("adam") == ["learning_rate", "b1", "b2", "eps", "eps_root"]
    assert params_of("adamax") == ["learning_rate", "b1", "b2", "eps"]


def test_make_builds_the_named_optimizer():
    params = {"x": jnp.array([1.0, -2.0])}
    grads = {"x": jnp.array([0.5, 0.25])}
    opt = make("adam", learning_rate=0.1)
    assert isinstance(opt, optax.GradientTransformationExtraArgs)
    updates, _ = opt.update(grads, opt.init(params), params)
    # Adam's first step is -lr * g / (|g| + eps) = -lr * sign(g) (eps = 1e-8 by default).
    np.testing.assert_allclose(updates["x"], [-0.1, -0.1], rtol=1e-5)  # float32 bias correction


@pytest.mark.parametrize("name", NAMES)
def test_make_with_defaults_takes_a_finite_step(name):
    params = {"x": jnp.array([1.0, -2.0])}
    opt = make(name)
    grad_fn = jax.grad(lambda p: jnp.sum(p["x"] ** 2))
    updates, _ = opt.update(grad_fn(params), opt.init(params), params, grad_fn=grad_fn)
    assert np.all(np.isfinite(updates["x"])) and np.all(updates["x"] * params["x"] < 0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        UnknownOptimizerError, match=r"Unknown optimizer 'adma'.*Did you mean.*'adam'"
    ) as info:
        make("adma", learning_rate=0.1)
    for name in NAMES:
        assert name in str(info.value)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_unknown_hyperparameter_is_named_with_the_accepted_ones():
    with pytest.raises(
        TypeError,
        match=r"'adam' has no hyperparameter 'rate'.*accepts: learning_rate, b1, b2, eps, "
        r"eps_root \(and, deprecated, lr for learning_rate\)\.",
    ):
        make("adam", rate=0.1)
    with pytest.raises(TypeError, match=r"'learning_rat'.*Did you mean 'learning_rate'\?"):
        make("sgd", learning_rat=0.5)
    # A misspelt old name is pointed to the new one.
    with pytest.raises(TypeError, match=r"'gamm'.*Did you mean 'momentum' \(formerly 'gamma'\)"):
        make("momentum", gamm=0.5)


@pytest.mark.parametrize(
    "name, hyperparams, pattern",
    [
        ("sgd", {"learning_rate": -0.1}, r"`learning_rate` = -0\.1 is out of range.*\[0\.0, inf\)"),
        ("momentum", {"momentum": 1.0}, r"`momentum` = 1\.0 is out of range.*\[0\.0, 1\.0\)"),
        ("nesterov", {"momentum": -0.5}, r"`momentum`"),
        ("rmsprop", {"decay": 1.5}, r"`decay`"),
        ("adadelta", {"rho": 1.0}, r"`rho`"),
        ("adagrad", {"eps": -1e-8}, r"`eps`"),
        ("adadelta", {"eps": 0.0}, r"`eps` = 0\.0 is out of range.*\(0\.0, inf\)"),
        ("adadelta", {"initial_delta": -1.0}, r"`initial_delta`"),
        ("adam", {"b1": 1.0}, r"`b1`"),
        ("adam", {"b2": float("nan")}, r"`b2` = nan"),
        ("adam", {"eps_root": -1.0}, r"`eps_root`"),
        ("adamax", {"b2": 1.01}, r"`b2`"),
        ("adamax", {"learning_rate": np.float32(-1.0)}, r"`learning_rate`"),  # NumPy: checked
        ("sgd", {"learning_rate": float("inf")}, r"`learning_rate` = inf"),
    ],
)
def test_out_of_range_concrete_hyperparameter_raises_naming_it(name, hyperparams, pattern):
    with pytest.raises(ValueError, match=pattern):
        make(name, **hyperparams)


def test_boundary_values_are_accepted():
    make("momentum", learning_rate=0.0, momentum=0.0)
    make("adamax", b2=1.0)  # a plain running max is well defined
    make("adadelta", initial_delta=0.0)


@pytest.mark.parametrize("bad", ["0.1", True, None, [0.1]])
def test_non_numeric_hyperparameter_is_a_type_error(bad):
    with pytest.raises(TypeError, match=r"Hyperparameter `learning_rate` must be a real number"):
        make("adam", learning_rate=bad)


@pytest.mark.parametrize(
    "name, hyperparam",
    [("momentum", "momentum"), ("rmsprop", "decay"), ("adadelta", "rho"), ("adam", "b1")],
)
def test_schedule_for_another_hyperparameter_is_pointed_to_inject_hyperparams(name, hyperparam):
    with pytest.raises(
        TypeError, match=r"Only `learning_rate` accepts a schedule.*optax\.inject_hyperparams"
    ):
        make(name, **{hyperparam: optax.constant_schedule(0.5)})


def test_traced_lr_under_jit_is_accepted_and_unchecked():
    params = {"x": jnp.array([1.0, -2.0])}
    grads = {"x": jnp.array([0.5, 0.25])}

    @jax.jit
    def first_update(lr):
        opt = make("momentum", learning_rate=lr, momentum=0.5)
        return opt.update(grads, opt.init(params), params)[0]["x"]

    np.testing.assert_allclose(first_update(0.1), [-0.05, -0.025], rtol=1e-6)
    # A traced value cannot be range-checked without forcing it; it passes through as given.
    np.testing.assert_allclose(first_update(-0.1), [0.05, 0.025], rtol=1e-6)
    # Concrete JAX arrays are passed through the same way (they may be hyperoptimizer state).
    make("adam", learning_rate=jnp.asarray(0.1))
