import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l.tasks import MLPClassifier, MLPMixture, Quadratic


def test_quadratic_loss_and_gradient_match_numpy():
    task = Quadratic(dim=5)
    inst = task.sample(jax.random.key(0))
    theta = task.init(jax.random.key(1), inst)
    W, y, th = (np.asarray(a, np.float64) for a in (inst.W, inst.y, theta))
    r = W @ th - y
    np.testing.assert_allclose(task.loss(theta, inst), r @ r, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(task.loss)(theta, inst), 2 * W.T @ r, rtol=1e-4, atol=1e-5)


def test_quadratic_distributions_and_init_scale():
    keys = jax.random.split(jax.random.key(0), 400)
    normal = jax.vmap(Quadratic(dim=10).sample)(keys)
    uniform = jax.vmap(Quadratic(dim=10, distribution="uniform").sample)(keys)
    # N(0,1): mean 0, variance 1; U[0,1): in [0,1), mean 1/2, variance 1/12 (40,000 draws each).
    assert abs(float(normal.W.mean())) < 0.02 and abs(float(normal.W.var()) - 1) < 0.03
    assert float(uniform.W.min()) >= 0 and float(uniform.W.max()) < 1
    assert (
        abs(float(uniform.W.mean()) - 0.5) < 0.01 and abs(float(uniform.W.var()) - 1 / 12) < 0.005
    )
    task = Quadratic(dim=10, init_scale=0.01)
    theta = jax.vmap(task.init, in_axes=(0, None))(keys, None)
    assert abs(float(theta.std()) - 0.01) < 0.0005


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 0}, "dim"),
        ({"distribution": "cauchy"}, "distribution"),
        ({"init_scale": 0}, "init_scale"),
    ],
)
def test_quadratic_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Quadratic(**kwargs)


def _numpy_mlp_loss(params, x, labels, act):
    h = x
    for layer in params[:-1]:
        h = act(h @ layer["w"] + layer["b"])
    logits = h @ params[-1]["w"] + params[-1]["b"]
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


@pytest.mark.parametrize(
    "activation, act",
    [
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("tanh", np.tanh),
        ("relu", lambda z: np.maximum(z, 0)),
    ],
)
def test_mlp_minibatch_loss_matches_numpy(activation, act):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(40, 12)).astype(np.float32)
    labels = rng.integers(0, 10, size=40).astype(np.int32)
    task = MLPClassifier(
        jnp.asarray(images),
        jnp.asarray(labels),
        hidden_sizes=(7, 5),
        activation=activation,
        batch_size=16,
        init_scale=0.5,
    )
    params = task.init(jax.random.key(3))
    assert [p["w"].shape for p in params] == [(12, 7), (7, 5), (5, 10)]
    assert all(float(jnp.abs(p["b"]).max()) == 0 for p in params)
    key = jax.random.key(4)
    x, _yb = task.minibatch(key)
    idx = np.asarray(jax.random.randint(key, (16,), 0, 40))
    np.testing.assert_array_equal(np.asarray(x), images[idx])
    np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    expected = _numpy_mlp_loss(np_params, images[idx].astype(np.float64), labels[idx], act)
    np.testing.assert_allclose(float(task.loss(params, None, key)), expected, rtol=1e-5)
    # Same key, same minibatch; another key, another one.
    assert float(task.loss(params, None, key)) == float(task.loss(params, None, key))
    assert float(task.loss(params, None, jax.random.key(5))) != float(task.loss(params, None, key))


def test_mlp_gradient_matches_finite_difference_and_error_rate():
    rng = np.random.default_rng(1)
    task = MLPClassifier(
        jnp.asarray(rng.uniform(size=(30, 6)), jnp.float32),
        jnp.asarray(rng.integers(0, 10, 30), jnp.int32),
        hidden_sizes=(4,),
        batch_size=30,
        init_scale=1.0,
    )
    params = task.init(jax.random.key(0))
    key = jax.random.key(1)
    g = jax.grad(task.loss)(params, None, key)
    eps = 1e-2
    for idx in [(0, 1), (3, 2), (5, 0)]:
        plus = jax.tree.map(lambda a: a, params)
        minus = jax.tree.map(lambda a: a, params)
        plus[0]["w"] = params[0]["w"].at[idx].add(eps)
        minus[0]["w"] = params[0]["w"].at[idx].add(-eps)
        fd = (task.loss(plus, None, key) - task.loss(minus, None, key)) / (2 * eps)
        np.testing.assert_allclose(float(g[0]["w"][idx]), float(fd), rtol=2e-2, atol=1e-4)
    logits = np.asarray(task.logits(params, task.images))
    expected = np.mean(logits.argmax(1) != np.asarray(task.labels))
    assert float(task.error_rate(params, task.images, task.labels)) == pytest.approx(expected)


def test_tasks_are_pytrees_usable_under_jit_and_vmap():
    task = MLPClassifier(
        jnp.ones((8, 3)), jnp.zeros((8,), jnp.int32), hidden_sizes=(2,), batch_size=4
    )
    leaves = jax.tree.leaves(task)
    assert len(leaves) == 2  # the dataset is data, the settings are static
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.vmap(task.init)(keys)
    losses = jax.jit(jax.vmap(lambda t, p, k: t.loss(p, None, k), in_axes=(None, 0, 0)))(
        task, params, keys
    )
    expected = [
        float(task.loss(jax.tree.map(lambda a: a[i], params), None, keys[i])) for i in range(3)
    ]
    np.testing.assert_allclose(np.asarray(losses), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(jnp.ones((8, 3)), jnp.zeros((8,), jnp.int32), activation="swish")


def _mixture(architectures=(((5,), "sigmoid"), ((3, 4), "relu"))):
    rng = np.random.default_rng(2)
    return MLPMixture(
        jnp.asarray(rng.uniform(size=(50, 6)), jnp.float32),
        jnp.asarray(rng.integers(0, 10, 50), jnp.int32),
        architectures=architectures,
        batch_size=16,
        init_scale=0.5,
    )


def test_mlp_mixture_is_the_sum_of_its_members_each_on_its_own_minibatch():
    task = _mixture()
    members = task.members
    assert [(m.hidden_sizes, m.activation) for m in members] == [
        ((5,), "sigmoid"),
        ((3, 4), "relu"),
    ]
    key, loss_key = jax.random.key(0), jax.random.key(1)
    params = task.init(key)
    expected_init = [m.init(k) for m, k in zip(members, jax.random.split(key, 2))]
    chex.assert_trees_all_equal(params, tuple(expected_init))
    alone = [
        float(m.loss(p, None, jax.random.fold_in(loss_key, i)))
        for i, (m, p) in enumerate(zip(members, params))
    ]
    np.testing.assert_allclose(
        np.asarray(task.member_losses(params, None, loss_key)), alone, rtol=1e-6
    )
    np.testing.assert_allclose(float(task.loss(params, None, loss_key)), sum(alone), rtol=1e-6)
    assert alone[0] != alone[1]
    assert len(jax.tree.leaves(task)) == 2  # one copy of the dataset, whatever the members
    with pytest.raises(ValueError, match="architectures"):
        _mixture(())
    with pytest.raises(ValueError, match="activation"):
        _mixture((((5,), "swish"),))


@pytest.mark.parametrize("features", ["log_sign", "moments"])
def test_a_coordinatewise_optimizer_trains_each_mixture_member_exactly_as_if_alone(features):
    """The claim behind meta-training on a mixture: a learned coordinatewise optimizer's trajectory
    of each member is the one it would take on that member by itself."""
    from l2l import learned
    from l2l.learned.features import FeatureConfig

    cfg = learned.LSTMOptimizerConfig(features=FeatureConfig(kind=features), output_init_scale=0.5)
    opt = learned.lstm_optimizer(learned.init_meta_params(jax.random.key(7), cfg), cfg)
    task = _mixture()

    def run(loss, params, steps=4):
        @jax.jit
        def step(params, state, t):
            g = jax.grad(loss)(params, jax.random.fold_in(jax.random.key(3), t))
            updates, state = opt.update(g, state, params)
            return optax.apply_updates(params, updates), state

        state = opt.init(params)
        for t in range(steps):
            params, state = step(params, state, t)
        return params

    start = task.init(jax.random.key(0))
    together = run(lambda p, k: task.loss(p, None, k), start)
    for i, member in enumerate(task.members):
        alone = run(lambda p, k, i=i, m=member: m.loss(p, None, jax.random.fold_in(k, i)), start[i])
        chex.assert_trees_all_close(together[i], alone, rtol=1e-5, atol=1e-6)
        moved = max(
            float(jnp.max(jnp.abs(a - b)))
            for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(start[i]))
        )
        assert moved > 1e-3


def test_resized_images_are_triangle_weighted_averages():
    """Downsampling 28 -> 8 pixels a side with antialiasing: new pixel i (centre at old coordinate
    c_i = (i + 1/2) 28/8 - 1/2) is the average of the old pixels k weighted by the triangle
    max(0, 1 - |k - c_i| 8/28), normalized, in rows and then columns: a float64 NumPy reference
    of that formula on a random image, and a constant image stays constant."""
    from l2l.tasks.mlp import resize_images

    rng = np.random.default_rng(0)
    images = np.concatenate([rng.uniform(size=(1, 784)), np.full((1, 784), 0.3)]).astype(np.float32)
    scale = 8 / 28
    centres = (np.arange(8) + 0.5) / scale - 0.5
    weights = np.maximum(0, 1 - np.abs(np.arange(28)[None, :] - centres[:, None]) * scale)
    weights /= weights.sum(axis=1, keepdims=True)  # (8, 28)
    want = weights @ images[0].reshape(28, 28).astype(np.float64) @ weights.T
    small = resize_images(images, 8).reshape(2, 8, 8)
    np.testing.assert_allclose(small[0], want, atol=1e-6)
    np.testing.assert_allclose(small[1], 0.3, rtol=1e-6)
