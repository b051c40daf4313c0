"""The per-parameter MLP optimizer's fast path (learned/batched_mlp.py, taken by
meta/batch_unroll.py) against its plain path, ``jax.vmap`` of ``l2l.unroll.unroll`` with
``learned.mlp_optimizer``: the carried states, the losses and the meta-gradient, in float64, with
and without second derivatives and rematerialization, for leaves run through the network alone or
joined with others."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from l2l.learned import MLPOptimizerConfig, TensorFeatureConfig, batched_mlp

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


def _compare(oracle, make_task, cfg, *, second_derivatives, remat):
    """The fast path against the vmap path on the small MLP (float64 data), batch 2, 2 steps,
    with a meta-gradient that says something."""
    with jax.enable_x64(True):
        task = make_task()
    got = oracle(task, cfg, batch=2, steps=2, remat=remat, second_derivatives=second_derivatives)
    grads = jax.tree.leaves(got[2])
    assert max(float(jnp.max(jnp.abs(g))) for g in grads) > 1e-3  # a gradient that says something
    return got


@pytest.mark.parametrize(
    "second_derivatives, remat, large", [(False, True, 12), (True, False, batched_mlp.LARGE)]
)
def test_fast_path_equals_the_vmapped_transform(
    monkeypatch, fast_path_against_vmap, tiny_mlp_task, second_derivatives, remat, large
):
    """``large`` 12: the two matrices run through the network alone, the biases together;
    the default: all four leaves together."""
    monkeypatch.setattr(batched_mlp, "LARGE", large)
    state, losses, _ = _compare(
        fast_path_against_vmap,
        tiny_mlp_task,
        CONFIG,
        second_derivatives=second_derivatives,
        remat=remat,
    )
    assert losses.shape == (2, 2) and int(state.step[0]) == 2


def test_fast_path_without_factored_features_or_normalization(
    fast_path_against_vmap, tiny_mlp_task
):
    cfg = dataclasses.replace(
        CONFIG,
        hidden_sizes=(),
        features=dataclasses.replace(CONFIG.features, factored_decays=(), normalize=False),
    )
    _compare(fast_path_against_vmap, tiny_mlp_task, cfg, second_derivatives=False, remat=False)


def test_fast_path_with_relative_steps_fan_in_scaling_and_loss_features(
    monkeypatch, fast_path_against_vmap, tiny_mlp_task
):
    """``relative_step`` and ``fan_in_scaling`` (each leaf's step times its parameters' rms and
    over the root of its fan-in, leaf by leaf; the matrices alone, the biases joined) and the
    loss features (per instance: a bias of the first layer on the fast path, more input columns
    on the plain one): the same numbers on both paths, meta-gradient included."""
    monkeypatch.setattr(batched_mlp, "LARGE", 12)
    cfg = dataclasses.replace(
        CONFIG,
        features=dataclasses.replace(CONFIG.features, loss_decays=(0.5, 0.9)),
        relative_step=True,
        relative_floor=0.05,
        fan_in_scaling=True,
    )
    state, _, _ = _compare(
        fast_path_against_vmap, tiny_mlp_task, cfg, second_derivatives=False, remat=True
    )
    assert state.opt_state.features.loss.shape == (2, 3)
