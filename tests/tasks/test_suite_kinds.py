"""The task kinds the benchmark suite added: ill-conditioned quadratics, MLP autoencoders, the
recurrent net on a random Markov chain, reparameterized weights, and logistic regression and GELU
MLPs (``mlp`` with no hidden layer / ``activation: gelu``). Each against an oracle: a spectrum,
a NumPy recomputation, a finite difference, a chain's empirical frequencies, SGD's exact
equivalence under a change of coordinates."""

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l.tasks import (
    AutoencoderConfig,
    MarkovRNN,
    MLPClassifier,
    QuadraticConfig,
    RandomReparamConfig,
    ReparamConfig,
    config_from_dict,
)
from l2l.tasks.base import training_loss

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MNIST = SHARED / "mnist"


def _fd_check(f, params, key, eps=1e-5, directions=3):
    """The directional derivatives of ``f`` (float64) along random directions against central
    differences."""
    f = jax.jit(f)
    grad = jax.jit(jax.grad(f))(params)
    for i in range(directions):
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.fold_in(key, i), len(leaves))
        d = jax.tree.unflatten(
            tree, [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)]
        )
        plus = jax.tree.map(lambda p, v: p + eps * v, params, d)
        minus = jax.tree.map(lambda p, v: p - eps * v, params, d)
        fd = (f(plus) - f(minus)) / (2 * eps)
        exact = sum(jnp.vdot(g, v) for g, v in zip(jax.tree.leaves(grad), jax.tree.leaves(d)))
        np.testing.assert_allclose(float(exact), float(fd), rtol=1e-6, atol=1e-9)


def test_ill_conditioned_quadratic_has_the_asked_spectrum_in_a_random_basis():
    task = QuadraticConfig(dim=20, condition_number=1e4).build()
    instance = task.sample(jax.random.key(3))
    hessian = 2 * np.asarray(instance.W, np.float64).T @ np.asarray(instance.W, np.float64)
    eig = np.sort(np.linalg.eigvalsh(hessian))[::-1]
    expected = 2 * 1e4 ** (-np.arange(20) / 19)
    np.testing.assert_allclose(eig, expected, rtol=2e-4, atol=1e-8)
    # Not axis-aligned: the Hessian's diagonal is far from its spectrum.
    assert np.max(np.abs(np.sort(np.diag(hessian))[::-1] - expected)) > 0.1
    with pytest.raises(ValueError, match="task.condition_number.: expected a value >= 1"):
        config_from_dict({"kind": "quadratic", "condition_number": 0.5})


def _images(n=64, d=16, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(n, d)), jnp.float32)


def test_autoencoder_loss_is_the_mean_squared_reconstruction_error():
    from l2l.tasks import MLPAutoencoder

    task = MLPAutoencoder(images=_images(), hidden_sizes=(8, 3), activation="tanh", batch_size=64)
    assert task.layer_sizes == (16, 8, 3, 8, 16)
    params = task.init(jax.random.key(0))
    x = np.asarray(task.images, np.float64)
    h = x
    for layer in params[:-1]:
        h = np.tanh(h @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    out = 1 / (1 + np.exp(-(h @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))))
    expected = np.mean((out - x) ** 2)
    np.testing.assert_allclose(float(training_loss(task, params)), expected, rtol=1e-5)


def test_autoencoder_and_markov_rnn_gradients_match_finite_differences():
    from l2l.tasks import MLPAutoencoder

    with jax.enable_x64(True):
        key = jax.random.key(1)
        # tanh: with ReLU a dead code makes the next pre-activation exactly 0 (its bias), a kink.
        ae = MLPAutoencoder(
            images=_images().astype(jnp.float64), hidden_sizes=(6, 2), activation="tanh"
        )
        params = jax.tree.map(lambda x: x.astype(jnp.float64), ae.init(key))
        _fd_check(lambda p: ae.loss(p, None, key), params, key)
        rnn = MarkovRNN(vocab=5, hidden=4, length=6, batch_size=3)
        instance = rnn.sample(key)
        params = jax.tree.map(lambda x: x.astype(jnp.float64), rnn.init(key, instance))
        _fd_check(lambda p: rnn.loss(p, instance, key), params, key)


def test_markov_rnn_draws_its_chain_and_its_loss_has_the_known_ends():
    rnn = MarkovRNN(vocab=4, hidden=8, length=200, batch_size=200, sharpness=1.5)
    instance = rnn.sample(jax.random.key(0))
    tokens = np.asarray(rnn.sequences(instance, jax.random.key(1)))
    assert tokens.shape == (200, 201) and tokens.min() >= 0 and tokens.max() < 4
    p = np.asarray(jax.nn.softmax(instance.logits, axis=-1), np.float64)
    counts = np.zeros((4, 4))
    np.add.at(counts, (tokens[:, :-1].ravel(), tokens[:, 1:].ravel()), 1)
    freq = counts / counts.sum(1, keepdims=True)
    # 40,000 transitions: each row's frequencies within 5 standard errors of the chain's law.
    se = np.sqrt(p * (1 - p) / counts.sum(1, keepdims=True))
    assert np.all(np.abs(freq - p) < 5 * se + 1e-3)
    # With zero output weights every prediction is uniform: the loss is log V exactly.
    params = rnn.init(jax.random.key(2), instance)
    params = {**params, "out_w": jnp.zeros_like(params["out_w"])}
    np.testing.assert_allclose(float(rnn.loss(params, instance, jax.random.key(3))), np.log(4))
    # The entropy floor: the row entropies averaged under the chain's law at each step from a
    # uniform start (NumPy).
    law, total = np.full(4, 0.25), 0.0
    row_entropy = -np.sum(p * np.log(p), axis=1)
    for _ in range(200):
        total += law @ row_entropy
        law = law @ p
    np.testing.assert_allclose(float(rnn.entropy_floor(instance)), total / 200, rtol=1e-5)


def test_markov_rnn_trained_by_adam_approaches_its_entropy_floor():
    rnn = MarkovRNN(vocab=8, hidden=16, length=8, batch_size=64, sharpness=3.0)
    instance = rnn.sample(jax.random.key(0))
    params = rnn.init(jax.random.key(1), instance)
    opt = optax.adam(0.03)

    def step(carry, key):
        params, state = carry
        loss, grads = jax.value_and_grad(rnn.loss)(params, instance, key)
        updates, state = opt.update(grads, state)
        return (optax.apply_updates(params, updates), state), loss

    _, losses = jax.lax.scan(
        step, (params, opt.init(params)), jax.random.split(jax.random.key(2), 400)
    )
    floor = float(rnn.entropy_floor(instance))
    assert float(losses[0]) > floor + 0.5  # far above at the start
    assert float(jnp.mean(losses[-50:])) < floor + 0.1  # near the floor at the end


def test_reparam_is_a_change_of_coordinates_sgd_steps_scale_by_its_square():
    inner_cfg = QuadraticConfig(dim=6)
    task = ReparamConfig(scale=100.0, task=inner_cfg).build()
    inner = inner_cfg.build()
    key = jax.random.key(4)
    instance = task.sample(key)
    stored = task.init(key, instance)
    theta = inner.init(key, instance)
    np.testing.assert_allclose(np.asarray(stored) * 100, np.asarray(theta), rtol=1e-6)
    np.testing.assert_allclose(
        float(task.loss(stored, instance, key)), float(inner.loss(theta, instance)), rtol=1e-6
    )
    # SGD(lr) on the stored parameters moves theta as SGD(lr * scale^2) on theta.
    lr = 1e-7
    for _ in range(5):
        stored = stored - lr * jax.grad(task.loss)(stored, instance, key)
        theta = theta - lr * 1e4 * jax.grad(inner.loss)(theta, instance)
    np.testing.assert_allclose(np.asarray(stored) * 100, np.asarray(theta), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"the shared MNIST test split is not at {MNIST}")
def test_logistic_regression_and_gelu_mlps_on_8x8_images():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MNIST in test-split-only mode
        logistic = config_from_dict(
            {"kind": "mlp", "hidden_sizes": [], "image_size": 8, "data_dir": str(MNIST)}
        ).build()
        gelu = config_from_dict(
            {"kind": "mlp", "hidden_sizes": [5], "activation": "gelu", "data_dir": str(MNIST)}
        ).build()
    assert isinstance(logistic, MLPClassifier) and logistic.layer_sizes == (64, 10)
    params = logistic.init(jax.random.key(0))
    images = np.asarray(logistic.images[:50], np.float64)
    logits = images @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"])
    np.testing.assert_allclose(
        np.asarray(logistic.logits(params, logistic.images[:50])), logits, rtol=1e-5, atol=1e-6
    )
    gp = gelu.init(jax.random.key(0))
    x = np.asarray(gelu.images[:10], np.float64)
    z = x @ np.asarray(gp[0]["w"]) + np.asarray(gp[0]["b"])
    # jax.nn.gelu's default is the tanh approximation (Hendrycks & Gimpel, 2016).
    h = 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    expected = h @ np.asarray(gp[1]["w"]) + np.asarray(gp[1]["b"])
    np.testing.assert_allclose(
        np.asarray(gelu.logits(gp, gelu.images[:10])), expected, rtol=1e-4, atol=1e-5
    )


def test_autoencoder_config_builds_on_8x8_images_with_its_errors():
    with pytest.raises(ValueError, match="hidden_sizes must be one or more positive sizes"):
        AutoencoderConfig(hidden_sizes=())
    if not MNIST.is_dir():
        pytest.skip(f"the shared MNIST test split is not at {MNIST}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        task = AutoencoderConfig(image_size=8, data_dir=str(MNIST)).build()
    assert task.images.shape[1] == 64 and task.layer_sizes == (64, 32, 8, 32, 64)


def test_random_reparam_draws_a_log_uniform_scale_per_instance():
    """``random_reparam``: each instance its own scale s, log-uniform in [lo, hi]; the stored
    parameters are the inner task's divided by s and the loss is the inner loss at s times them."""
    inner_cfg = QuadraticConfig(dim=5)
    task = RandomReparamConfig(low=0.01, high=100.0, task=inner_cfg).build()
    inner = inner_cfg.build()
    keys = jax.random.split(jax.random.key(7), 4000)
    log_scales = np.asarray(jax.vmap(task.sample)(keys)[1])
    lo, hi = np.log(0.01), np.log(100.0)
    assert lo <= log_scales.min() and log_scales.max() <= hi
    # Uniform on [lo, hi]: mean and variance within 5 standard errors of (lo+hi)/2, (hi-lo)^2/12.
    width = hi - lo
    assert abs(log_scales.mean()) < 5 * width / np.sqrt(12 * 4000)
    assert abs(log_scales.var() / (width**2 / 12) - 1) < 0.1
    key = keys[0]
    instance = task.sample(key)
    inner_instance, s = instance[0], float(np.exp(instance[1]))
    stored = task.init(key, instance)
    theta = inner.init(key, inner_instance)
    np.testing.assert_allclose(np.asarray(stored) * s, np.asarray(theta), rtol=1e-5)
    np.testing.assert_allclose(
        float(task.loss(stored, instance, key)), float(inner.loss(theta, inner_instance)), rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"low \(2.0\) must be at most high \(1.0\)"):
        RandomReparamConfig(low=2.0, high=1.0)
