import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned
from l2l import meta as meta_lib
from l2l import unroll as unroll_lib
from l2l.learned import FeatureConfig, LSTMOptimizerConfig
from l2l.meta import checkpoints
from l2l.meta.objectives import OBJECTIVES
from l2l.tasks import Quadratic, QuadraticConfig


def tiny_config(**overrides) -> meta_lib.MetaTrainConfig:
    base = {
        "task": QuadraticConfig(dim=2),
        "optimizer": LSTMOptimizerConfig(
            hidden_sizes=(3,), features=FeatureConfig(kind="identity"), output_init_scale=0.3
        ),
        "horizon": 4,
        "truncation": 4,
        "batch_size": 2,
        "meta_steps": 3,
        "second_derivatives": True,
        "eval_instances": 4,
    }
    base.update(overrides)
    return meta_lib.MetaTrainConfig(**base)


def full_bptt_meta_loss(meta_params, cfg, instances, params0, stream_keys):
    """An independent oracle: the whole horizon in a Python loop, no scan, no truncation."""
    task = Quadratic(dim=cfg.task.dim)
    total = 0.0
    for b in range(cfg.batch_size):
        inst = jax.tree.map(lambda a: a[b], instances)
        opt = learned.lstm_optimizer(meta_params, cfg.optimizer)
        theta = params0[b]
        state = opt.init(theta)
        losses = []
        for _ in range(cfg.horizon):
            g = jax.grad(task.loss)(theta, inst)
            if not cfg.second_derivatives:
                g = jax.lax.stop_gradient(g)
            u, state = opt.update(g, state, theta)
            theta = theta + u
            losses.append(task.loss(theta, inst))
        total = total + OBJECTIVES[cfg.objective](jnp.stack(losses))
    return total / cfg.batch_size


def to64(tree):
    return jax.tree.map(
        lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
    )


def test_full_bptt_meta_gradient_matches_central_finite_differences():
    with jax.enable_x64(True):
        cfg = tiny_config()
        tr = meta_lib.make_trainer(cfg, Quadratic(dim=2), jit=False)
        state = to64(tr.init())
        meta = state.meta_params
        loss_fn = lambda mp: tr.meta_loss(mp, state)[0]  # noqa: E731
        grads = jax.grad(loss_fn)(meta)
        leaves, treedef = jax.tree.flatten(meta)
        rng = np.random.default_rng(0)
        for _ in range(3):
            direction = treedef.unflatten(
                [jnp.asarray(rng.normal(size=leaf.shape)) for leaf in leaves]
            )
            eps = 1e-5
            plus = jax.tree.map(lambda a, d: a + eps * d, meta, direction)
            minus = jax.tree.map(lambda a, d: a - eps * d, meta, direction)
            fd = (loss_fn(plus) - loss_fn(minus)) / (2 * eps)
            analytic = sum(
                jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction))
            )
            np.testing.assert_allclose(float(analytic), float(fd), rtol=1e-6)


@pytest.mark.parametrize("second_derivatives", [True, False])
@pytest.mark.parametrize("objective", ["sum", "log_final"])
def test_truncated_estimator_equals_full_bptt_when_truncation_is_the_horizon(
    second_derivatives, objective
):
    with jax.enable_x64(True):
        cfg = tiny_config(second_derivatives=second_derivatives, objective=objective)
        tr = meta_lib.make_trainer(cfg, Quadratic(dim=2), jit=False)
        state = to64(tr.init())
        ours = jax.grad(lambda mp: tr.meta_loss(mp, state)[0])(state.meta_params)
        oracle = jax.grad(full_bptt_meta_loss)(
            state.meta_params, cfg, state.instances, state.unroll.params, state.stream_keys
        )
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), ours, oracle
        )
        if not second_derivatives:  # dropping second derivatives changes the meta-gradient
            full = jax.grad(full_bptt_meta_loss)(
                state.meta_params,
                dataclasses.replace(cfg, second_derivatives=True),
                state.instances,
                state.unroll.params,
                state.stream_keys,
            )
            assert not np.allclose(jax.tree.leaves(full)[0], jax.tree.leaves(ours)[0])


def test_truncations_carry_params_and_lstm_state_with_stop_gradient():
    cfg = tiny_config(
        horizon=8,
        truncation=4,
        meta_steps=2,
        meta_optimizer=meta_lib.MetaOptimizerConfig(learning_rate=1e-12),
    )
    task = Quadratic(dim=2)
    tr = meta_lib.make_trainer(cfg, task)
    state = tr.init()
    # The jitted step donates its input, so keep host copies of what the test compares with.
    instances = jax.tree.map(np.array, state.instances)
    meta = jax.tree.map(np.array, state.meta_params)
    p0 = np.array(state.unroll.params)
    state, _m1 = tr.step(state)
    state, _m2 = tr.step(state)
    # Same instances for the whole horizon; two truncations of 4 = one unroll of 8 (lr ~ 0).
    jax.tree.map(np.testing.assert_array_equal, state.instances, instances)
    opt = learned.lstm_optimizer(meta, cfg.optimizer)
    for b in range(2):
        inst = jax.tree.map(lambda a: a[b], instances)
        ustate = unroll_lib.UnrollState(p0[b], opt.init(p0[b]), jnp.zeros((), jnp.int32))
        ustate, _losses = unroll_lib.unroll(opt, task, inst, ustate, jax.random.key(0), 8)
        np.testing.assert_allclose(state.unroll.params[b], ustate.params, rtol=1e-4, atol=1e-6)
    assert int(state.unroll.step[0]) == 8
    # The next meta-step starts a new horizon: new instances, fresh optimizee state.
    state, _ = tr.step(state)
    assert not np.allclose(state.instances.W, instances.W)
    assert int(state.unroll.step[0]) == 4


def test_non_finite_meta_gradient_is_skipped_and_counted():
    cfg = tiny_config(meta_steps=4, horizon=4, truncation=2)
    tr = meta_lib.make_trainer(cfg, Quadratic(dim=2))
    state = tr.init()
    before = jax.tree.map(np.array, state.meta_params)
    # theta so large that the losses overflow float32: the meta-gradient is not finite.
    bad = state._replace(
        unroll=state.unroll._replace(params=jnp.full_like(state.unroll.params, 1e30))
    )
    state, metrics = tr.step(bad)
    assert int(metrics["skipped"]) == 1 and not np.isfinite(float(metrics["grad_norm"]))
    jax.tree.map(np.testing.assert_array_equal, state.meta_params, before)
    # A new horizon starts at meta-step 2; finite again, the step applies.
    state, metrics = tr.step(state)  # still the bad truncation's second half
    state, metrics = tr.step(state)
    assert int(metrics["skipped"]) >= 1 and np.isfinite(float(metrics["grad_norm"]))
    assert not np.allclose(jax.tree.leaves(state.meta_params)[0], jax.tree.leaves(before)[0])


def test_resume_after_kill_gives_the_same_meta_parameters(tmp_path):
    cfg = tiny_config(
        horizon=6,
        truncation=3,
        meta_steps=8,
        batch_size=3,
        eval_every=3,
        checkpoint_every=2,
        second_derivatives=False,
    )
    straight = meta_lib.train(
        dataclasses.replace(cfg, output_dir=str(tmp_path / "a")), show_progress=False
    )
    resumed_cfg = dataclasses.replace(cfg, output_dir=str(tmp_path / "b"))
    first = meta_lib.train(resumed_cfg, show_progress=False, stop_after=5)  # "killed" after 5
    assert first.steps == 5
    # A crash while writing the checkpoint leaves the previous one intact (atomic os.replace).
    leftovers = [p for p in (tmp_path / "b").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    second = meta_lib.train(resumed_cfg, show_progress=False)
    assert second.steps == 8
    jax.tree.map(np.testing.assert_array_equal, second.meta_params, straight.meta_params)
    jax.tree.map(np.testing.assert_array_equal, second.best_meta_params, straight.best_meta_params)
    assert second.best_score == straight.best_score
    best = learned.read(tmp_path / "b" / "best.l2l")
    jax.tree.map(np.testing.assert_array_equal, best.meta_params, straight.best_meta_params)
    # Resuming into a directory made by a different config is refused, naming the directory.
    with pytest.raises(ValueError, match="different config"):
        meta_lib.train(dataclasses.replace(resumed_cfg, seed=1), show_progress=False)


def test_a_time_budget_stops_training_early_and_keeps_a_resumable_checkpoint(tmp_path):
    """A spent wall-clock budget ends the loop after the step in flight, with an evaluation and a
    checkpoint there; resuming without the budget finishes the run (resuming itself is checked
    against a straight run in test_resume_after_kill_gives_the_same_meta_parameters)."""
    cfg = tiny_config(
        horizon=6,
        truncation=3,
        meta_steps=6,
        batch_size=3,
        eval_every=3,
        checkpoint_every=3,
        time_budget_minutes=1e-9,
        output_dir=str(tmp_path / "b"),
    )
    stopped = meta_lib.train(cfg, show_progress=False)
    assert stopped.steps == 1 and math.isfinite(stopped.best_score)
    assert (tmp_path / "b" / "best.l2l").exists()
    finished = meta_lib.train(
        dataclasses.replace(cfg, time_budget_minutes=None), show_progress=False
    )
    assert finished.steps == 6


def test_meta_training_improves_the_optimizer_on_quadratics():
    """A short run must beat the untrained LSTM on held-out instances (a behavioural check)."""
    cfg = meta_lib.MetaTrainConfig(
        task=QuadraticConfig(dim=4),
        optimizer=LSTMOptimizerConfig(hidden_sizes=(8,)),
        horizon=20,
        truncation=10,
        batch_size=16,
        meta_steps=60,
        second_derivatives=False,
        meta_optimizer=meta_lib.MetaOptimizerConfig(learning_rate=1e-2),
    )
    task = Quadratic(dim=4)
    tr = meta_lib.make_trainer(cfg, task)
    state = tr.init()
    from l2l.unroll import TEST_SET, instance_keys, loss_curves

    keys = instance_keys(0, TEST_SET, 32)

    def score(mp):
        return float(
            jnp.mean(jnp.sum(loss_curves(tr.make_optimizer, task, keys, 20, mp)[:, 1:], 1))
        )

    untrained = score(state.meta_params)
    for _ in range(cfg.meta_steps):
        state, _ = tr.step(state)
    assert score(state.meta_params) < 0.5 * untrained


def test_config_rejects_a_horizon_not_divisible_by_the_truncation():
    with pytest.raises(ValueError, match="multiple of truncation"):
        tiny_config(horizon=10, truncation=3)


def test_the_quadratic_config_is_the_default_and_new_fields_are_checked(tmp_path):
    from l2l import config as config_lib
    from l2l.config import ConfigError
    from l2l.experiments import meta_train

    cfg = config_lib.load(meta_train.Config, "configs/quadratic_lstm.yaml")
    assert cfg == meta_train.Config()
    assert (cfg.estimator, cfg.remat, cfg.lstm_matmul_dtype) == ("tbptt", True, "float32")
    assert cfg.distributed.devices is None and cfg.distributed.coordinator_address is None
    with pytest.raises(ConfigError, match="estimator"):
        config_lib.load(meta_lib.MetaTrainConfig, overrides=["estimator=reinforce"])
    with pytest.raises(ConfigError, match="es_sigma"):
        config_lib.load(meta_lib.MetaTrainConfig, overrides=["es_sigma=0"])
    with pytest.raises(ConfigError, match="distributed.devices"):
        config_lib.load(meta_lib.MetaTrainConfig, overrides=["distributed.devices=0"])
    # The saved config round-trips with the new sections.
    config_lib.save(cfg, tmp_path / "c.yaml")
    assert config_lib.load(meta_train.Config, tmp_path / "c.yaml") == cfg


def test_a_checkpoint_written_before_the_es_estimators_still_loads(tmp_path):
    from flax import serialization

    tr = meta_lib.make_trainer(tiny_config(), Quadratic(dim=2), jit=False)
    state = tr.init()
    old = serialization.to_state_dict(jax.tree.map(np.asarray, state))
    del old["perturbation"]  # the MetaState of earlier versions had no such field
    extra = {"elapsed": np.array(1.5)}
    path = tmp_path / "old.msgpack"
    path.write_bytes(serialization.msgpack_serialize({"state": old, "extra": extra}))
    loaded, loaded_extra = checkpoints.load_checkpoint(path, state, {"elapsed": np.array(0.0)})
    jax.tree.map(np.testing.assert_array_equal, loaded, state)
    assert loaded.perturbation == () and float(loaded_extra["elapsed"]) == 1.5


def test_a_run_started_by_the_command_resumes_from_the_library(tmp_path):
    """``l2l meta-train`` saves its own config class (with the closing comparison's keys); the
    library's ``train`` resumes that run, and a changed meta-training field still refuses."""
    from l2l.config import ConfigError
    from l2l.experiments import meta_train

    plain = tiny_config(meta_steps=4, output_dir=str(tmp_path))
    fields = {f.name: getattr(plain, f.name) for f in dataclasses.fields(meta_lib.MetaTrainConfig)}
    command = meta_train.Config(**fields, test_instances=0)
    assert meta_lib.train(command, show_progress=False, stop_after=2).steps == 2
    assert meta_lib.train(plain, show_progress=False).steps == 4
    with pytest.raises(ConfigError, match="a checkpoint of a different config"):
        meta_lib.train(dataclasses.replace(plain, seed=3), show_progress=False)


def test_an_untrained_control_starts_where_meta_training_started(tmp_path):
    """``{kind: learned, untrained: true}`` rebuilds the weights the meta-step's ``init`` draws
    (the file's key tree 2), and the old tree for files without the mark (the zoo's)."""
    from l2l.meta.loop import _info
    from l2l.specs import LearnedSpec

    cfg = tiny_config(seed=7)
    start = meta_lib.make_trainer(cfg, cfg.task.build(), jit=False).init().meta_params
    trained = jax.tree.map(lambda x: x + 1.0, start)  # any other weights
    path = learned.save(tmp_path / "x.l2l", trained, cfg.optimizer, _info(cfg, 3, 0.0))
    control = LearnedSpec(path=str(path), untrained=True)
    assert control.display_label == "x (untrained)"
    for a, b in zip(jax.tree.leaves(control.initial_meta_params()), jax.tree.leaves(start)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    info = {k: v for k, v in _info(cfg, 3, 0.0).items() if k != "key_tree"}
    old = learned.save(tmp_path / "old.l2l", trained, cfg.optimizer, info)
    legacy = LearnedSpec(path=str(old), untrained=True).initial_meta_params()
    expected = cfg.optimizer.init_meta_params(jax.random.fold_in(jax.random.key(7), 0))
    for a, b in zip(jax.tree.leaves(legacy), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
