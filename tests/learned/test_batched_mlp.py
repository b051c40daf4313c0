"""The per-parameter MLP optimizer's fast path (learned/batched_mlp.py, taken by
meta/batch_unroll.py) against its plain path, ``jax.vmap`` of ``l2l.unroll.unroll`` with
``learned.mlp_optimizer``: the carried states, the losses and the meta-gradient, in float64, with
and without second derivatives and rematerialization, for leaves run through the network alone or
joined with others."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import unroll as unroll_lib
from l2l.learned import MLPOptimizerConfig, TensorFeatureConfig, batched_mlp
from l2l.meta import batch_unroll
from l2l.tasks import MLPClassifier

#: Every kind of feature, one of each (what compiles fastest), two hidden layers.
CONFIG = MLPOptimizerConfig(
    hidden_sizes=(4, 3),
    features=TensorFeatureConfig(
        momentum_decays=(0.9,),
        second_moment_decay=0.99,
        factored_decays=(0.8,),
        timescales=(10.0,),
        eps=1e-3,
    ),
    exp_mult=0.5,
    step_mult=0.1,
    output_init_scale=0.5,
)


def _task():
    """An MLP with leaves of 3, 15, 10 and 30 coordinates (two matrices, two biases)."""
    rng = np.random.default_rng(0)
    return MLPClassifier(
        jnp.asarray(rng.uniform(size=(64, 5))),
        jnp.asarray(rng.integers(0, 10, 64), jnp.int32),
        hidden_sizes=(3,),
        batch_size=8,
    )


def _compare(cfg, *, second_derivatives, remat, batch=2, steps=2):
    with jax.enable_x64(True):
        task = _task()
        meta = cfg.init_meta_params(jax.random.key(0))
        meta = jax.tree.map(lambda a: a.astype(jnp.float64), meta)
        keys = jax.random.split(jax.random.key(1), 3 * batch).reshape(batch, 3)
        instances = jax.vmap(task.sample)(keys[:, 0])
        start = jax.vmap(lambda i, k: unroll_lib.start(cfg.optimizer(meta), task, i, k))(
            instances, keys[:, 1]
        )
        first_order = not second_derivatives

        def reference(mp):
            opt = cfg.optimizer(mp)
            return jax.vmap(
                lambda i, s, k: unroll_lib.unroll(
                    opt, task, i, s, k, steps, stop_gradient_inputs=first_order
                )
            )(instances, start, keys[:, 2])

        def ours(mp):
            return batch_unroll.unroll(
                mp,
                cfg,
                task,
                instances,
                start,
                keys[:, 2],
                steps,
                stop_gradient_inputs=first_order,
                remat=remat,
            )

        def with_gradient(fn):
            (state, losses), vjp = jax.vjp(fn, meta)
            cotangent = (jax.tree.map(jnp.zeros_like, state), jnp.ones_like(losses))
            return state, losses, vjp(cotangent)

        got, want = jax.jit(lambda: (with_gradient(ours), with_gradient(reference)))()
    assert jax.tree.structure(got) == jax.tree.structure(want)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), got, want)
    grads = jax.tree.leaves(got[2])
    assert max(float(jnp.max(jnp.abs(g))) for g in grads) > 1e-3  # a gradient that says something
    return got


@pytest.mark.parametrize(
    "second_derivatives, remat, large", [(False, True, 12), (True, False, batched_mlp.LARGE)]
)
def test_fast_path_equals_the_vmapped_transform(monkeypatch, second_derivatives, remat, large):
    """``large`` 12: the two matrices run through the network alone, the biases together;
    the default: all four leaves together."""
    monkeypatch.setattr(batched_mlp, "LARGE", large)
    state, losses, _ = _compare(CONFIG, second_derivatives=second_derivatives, remat=remat)
    assert losses.shape == (2, 2) and int(state.step[0]) == 2


def test_fast_path_without_factored_features_or_normalization():
    cfg = dataclasses.replace(
        CONFIG,
        hidden_sizes=(),
        features=dataclasses.replace(CONFIG.features, factored_decays=(), normalize=False),
    )
    _compare(cfg, second_derivatives=False, remat=False)
