"""A new task kind and a new learned-optimizer architecture are each one class and a registration:
the config engine, the trainer, the file format and the evaluation serve them unchanged."""

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct

from l2l import config, evaluate, learned, meta, tasks
from l2l.experiments import evaluate as evaluate_experiment


@struct.dataclass
class Bowl:
    """f(theta) = 0.5 c ||theta||^2 with the curvature c ~ U[1, 2] drawn per instance."""

    dim: int = struct.field(pytree_node=False, default=3)

    def sample(self, key):
        return jax.random.uniform(key, (), minval=1.0, maxval=2.0)

    def init(self, key, instance):
        del instance
        return jax.random.normal(key, (self.dim,))

    def loss(self, params, instance, key=None):
        del key
        return 0.5 * instance * jnp.sum(params**2)


@tasks.register("test_bowl")
@dataclasses.dataclass(frozen=True)
class BowlConfig(tasks.TaskConfig):
    kind: Literal["test_bowl"] = "test_bowl"
    dim: int = config.field(3, ge=1)

    def build(self) -> Bowl:
        return Bowl(dim=self.dim)


@learned.register("test_learned_sgd")
@dataclasses.dataclass(frozen=True)
class LearnedSGDConfig(learned.LearnedOptimizerConfig):
    """The smallest learned optimizer: SGD whose log step size is the one meta-parameter."""

    kind: Literal["test_learned_sgd"] = "test_learned_sgd"
    initial_log_lr: float = -3.0

    def init_meta_params(self, key):
        del key
        return {"log_lr": jnp.asarray(self.initial_log_lr, jnp.float32)}

    def optimizer(self, meta_params):
        return optax.with_extra_args_support(optax.sgd(jnp.exp(meta_params["log_lr"])))


def test_a_new_task_kind_is_read_from_a_config_and_evaluated(tmp_path):
    path = tmp_path / "bowl.yaml"
    path.write_text(
        "task: {kind: test_bowl, dim: 4}\nsteps: 5\nnum_tuning: 3\nnum_test: 3\n"
        "baselines: [{optimizer: sgd, lr_min: 0.1, lr_max: 0.5, num_lrs: 2}]\n"
    )
    cfg = config.load(evaluate_experiment.Config, path)
    assert cfg.task == BowlConfig(dim=4)
    with pytest.raises(config.ConfigError, match="task.kind.*'test_bwl'. Did you mean 'test_bowl'"):
        config.load(evaluate_experiment.Config, overrides=["task.kind=test_bwl"])
    report = evaluate_experiment.run(cfg, show_progress=False)
    (sgd,) = report.comparison.results
    # The oracle: SGD on 0.5 c |theta|^2 contracts by (1 - lr c) per step.
    lr = sgd.hyperparams["learning_rate"]
    keys = evaluate.instance_keys(0, evaluate.TEST_SET, 3)
    expected = []
    for k in keys:
        c = float(Bowl(4).sample(k[0]))
        f0 = float(Bowl(4).loss(Bowl(4).init(k[1], c), c))
        expected.append(sum(f0 * (1 - lr * c) ** (2 * t) for t in range(1, 6)))
    np.testing.assert_allclose(sgd.summed_losses, expected, rtol=1e-5)


def test_a_new_architecture_is_meta_trained_saved_and_loaded(tmp_path):
    cfg = meta.MetaTrainConfig(
        task=BowlConfig(dim=3),
        optimizer=LearnedSGDConfig(),
        meta_optimizer=meta.MetaOptimizerConfig(learning_rate=0.1, decay_to=1.0),
        horizon=10,
        truncation=10,
        batch_size=4,
        meta_steps=30,
        eval_every=10,
        eval_instances=4,
        output_dir=str(tmp_path),
    )
    run = meta.train(cfg, show_progress=False)
    # exp(-3) ~ 0.05 is a timid step on curvatures in [1, 2]; meta-training makes it bolder.
    assert float(run.meta_params["log_lr"]) > -2.5
    trained = learned.read(tmp_path / "best.l2l")
    assert isinstance(trained.config, LearnedSGDConfig)
    np.testing.assert_array_equal(trained.meta_params["log_lr"], run.best_meta_params["log_lr"])
    # The file's optimizer is plain SGD at the learned step size.
    lr = float(np.exp(trained.meta_params["log_lr"]))
    params = jnp.ones(3)
    updates, _ = trained.transform().update(params, trained.transform().init(params))
    np.testing.assert_allclose(updates, -lr * params, rtol=1e-6)
    # And the configs that name it round-trip through YAML like any other.
    config.save(cfg, tmp_path / "again.yaml")
    assert config.load(meta.MetaTrainConfig, tmp_path / "again.yaml") == cfg
