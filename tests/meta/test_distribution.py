"""Meta-training on a task distribution (task kind ``distribution``, l2l/meta/distribution.py):
the members drawn by weight, each member's meta-step the single-task one on the shared weights,
the meta-loss falls, the run resumes exactly, and the trained file round-trips."""

import dataclasses

import jax
import numpy as np
import pytest

from l2l import learned, tasks
from l2l import meta as meta_lib
from l2l import unroll as unroll_lib
from l2l.config import ConfigError
from l2l.learned import MLPOptimizerConfig, TensorFeatureConfig
from l2l.meta import distribution
from l2l.tasks import DistributionConfig, MemberConfig, QuadraticConfig, RandomReparamConfig

#: A small per-parameter MLP optimizer with steps relative to the parameters' scale.
OPTIMIZER = MLPOptimizerConfig(
    hidden_sizes=(8,),
    features=TensorFeatureConfig(
        momentum_decays=(0.5, 0.9), factored_decays=(), timescales=(10.0,), loss_decays=(0.9,)
    ),
    step_mult=0.1,
    exp_mult=0.1,
    relative_step=True,
)

#: Two members of different shapes, weights and unrolls (one randomly reparameterized).
DISTRIBUTION = DistributionConfig(
    members=(
        MemberConfig(task=QuadraticConfig(dim=3), horizon=8),
        MemberConfig(
            task=RandomReparamConfig(low=0.1, high=10.0, task=QuadraticConfig(dim=5)),
            weight=2.0,
            batch_size=2,
        ),
    )
)


def tiny_config(**changes) -> meta_lib.MetaTrainConfig:
    base = meta_lib.MetaTrainConfig(
        task=DISTRIBUTION,
        optimizer=OPTIMIZER,
        horizon=12,
        truncation=4,
        batch_size=4,
        meta_steps=12,
        objective="log_sum",
        second_derivatives=False,
        eval_every=6,
        eval_instances=4,
        checkpoint_every=3,
        log_every=3,
        meta_optimizer=meta_lib.MetaOptimizerConfig(learning_rate=1e-2),
    )
    return dataclasses.replace(base, **changes)


def test_members_are_drawn_by_weight_and_the_same_on_every_call():
    draws = distribution.schedule(0, 30_000, (1.0, 2.0, 1.0))
    np.testing.assert_array_equal(draws, distribution.schedule(0, 30_000, (1.0, 2.0, 1.0)))
    shares = np.bincount(draws, minlength=3) / draws.size
    # Within 5 standard errors of 1/4, 1/2, 1/4.
    np.testing.assert_allclose(shares, [0.25, 0.5, 0.25], atol=5 * np.sqrt(0.25 / 30_000))


def test_each_meta_step_is_its_members_single_task_step_on_the_shared_weights():
    """The oracle: one single-task trainer per member (its own horizon, batch and streams),
    stepped in the order the schedule draws, each given the weights the previous one left."""
    cfg = tiny_config()
    built = tasks.build(cfg.task)
    trainer = distribution.make_distribution_trainer(cfg, built)
    singles = [
        meta_lib.make_trainer(
            distribution.member_config(cfg, i), t, streams=distribution.member_streams(0, i)
        )
        for i, t in enumerate(built.tasks)
    ]
    draws = distribution.schedule(cfg.seed, cfg.meta_steps, built.weights)
    assert set(draws[:6].tolist()) == {0, 1}  # every member drawn, some more than once
    state = trainer.init()
    oracle = [s.init() for s in singles]
    params, opt_state = oracle[0].meta_params, oracle[0].meta_opt_state
    for step in range(6):
        state, metrics = trainer.step(state)
        m = int(draws[step])
        assert metrics["member"] == m
        full = oracle[m]._replace(meta_params=params, meta_opt_state=opt_state)
        oracle[m], _ = singles[m].step(full)
        params, opt_state = oracle[m].meta_params, oracle[m].meta_opt_state
        jax.tree.map(np.testing.assert_array_equal, state.meta_params, params)
    assert int(state.step) == 6
    # Each member's instances are its own: no two members draw under the same key.
    keys = [jax.random.key_data(k) for i in range(2) for k in distribution.member_streams(0, i)]
    keys.append(jax.random.key_data(unroll_lib.stream_key(0, "meta_train")))
    assert len({tuple(np.asarray(k).ravel()) for k in keys}) == len(keys)


def test_meta_training_on_a_distribution_lowers_its_validation_score_and_resumes(tmp_path):
    cfg = tiny_config(meta_steps=40, eval_every=40, checkpoint_every=20, log_every=20)
    straight = meta_lib.train(
        dataclasses.replace(cfg, output_dir=str(tmp_path / "a")), show_progress=False
    )
    built = tasks.build(cfg.task)
    score = distribution.validation_score(cfg, built, OPTIMIZER.optimizer)
    untrained = score(OPTIMIZER.init_meta_params(meta_lib.step.meta_init_key(cfg.seed)))
    # The mean over members of log(mean loss) falls by at least 0.5 (a factor 1.6) in 40 steps.
    assert straight.best_score < untrained - 0.5
    assert straight.best_score == pytest.approx(score(straight.best_meta_params), abs=1e-5)
    # Killed after 25 meta-steps and resumed: the very same weights as the straight run.
    resumed_cfg = dataclasses.replace(cfg, output_dir=str(tmp_path / "b"))
    assert meta_lib.train(resumed_cfg, show_progress=False, stop_after=25).steps == 25
    second = meta_lib.train(resumed_cfg, show_progress=False)
    assert second.steps == 40
    jax.tree.map(np.testing.assert_array_equal, second.meta_params, straight.meta_params)
    # The trained file round-trips: its optimizer gives the best weights' updates.
    saved = learned.read(tmp_path / "b" / "best.l2l")
    jax.tree.map(np.testing.assert_array_equal, saved.meta_params, straight.best_meta_params)
    assert saved.config == OPTIMIZER
    assert saved.info["validation_mean_log_loss"] == pytest.approx(straight.best_score)


def test_distribution_mistakes_are_one_line_errors():
    with pytest.raises(ValueError, match="at least one member"):
        DistributionConfig(members=())
    with pytest.raises(ValueError, match="cannot hold one"):
        DistributionConfig(members=(MemberConfig(task=DISTRIBUTION),))
    bad = tiny_config(
        task=DistributionConfig(members=(MemberConfig(task=QuadraticConfig(), horizon=10),))
    )
    with pytest.raises(ConfigError, match=r"task.members\[0\]: horizon \(10\) must be a multiple"):
        distribution.member_config(bad, 0)
