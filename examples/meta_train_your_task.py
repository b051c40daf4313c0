# %% [markdown]
# # Meta-train a learned optimizer on a task you define
#
# A task is three pure functions over arrays: `sample(key) -> instance`, `init(key, instance) ->
# params`, `loss(params, instance, key)`. Here: logistic regression on a synthetic data set, a new
# one per instance. Registered as a task kind, it is meta-trained by l2l's trainer like the
# shipped ones; the trained optimizer is saved, reloaded from its file, and compared with tuned
# Adam on held-out instances.
#
#     python examples/meta_train_your_task.py        (L2L_EXAMPLE_SMALL=1: a short run)

# %%
import dataclasses
import os
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import l2l
from l2l import config, evaluate, learned, meta, tasks, unroll

SMALL = os.environ.get("L2L_EXAMPLE_SMALL") == "1"
OUT = Path(os.environ.get("L2L_EXAMPLE_OUT", "examples_out")) / "meta_train_your_task"


# %% [markdown]
# The task: n points in d dimensions, labels from a random true weight vector (with 10 % label
# noise); the optimizee fits weights and a bias with the mean logistic loss on the whole set.


# %%
@struct.dataclass
class LogisticRegression:
    dim: int = struct.field(pytree_node=False, default=8)
    points: int = struct.field(pytree_node=False, default=64)

    def sample(self, key):
        k_w, k_x, k_noise = jax.random.split(key, 3)
        w_true = jax.random.normal(k_w, (self.dim,))
        x = jax.random.normal(k_x, (self.points, self.dim))
        flip = jax.random.bernoulli(k_noise, 0.1, (self.points,))
        y = jnp.where(flip, x @ w_true < 0, x @ w_true > 0).astype(jnp.float32)
        return {"x": x, "y": y}

    def init(self, key, instance):
        del instance
        return {"w": 0.1 * jax.random.normal(key, (self.dim,)), "b": jnp.zeros(())}

    def loss(self, params, instance, key=None):
        del key  # the whole data set every step: no minibatches
        logits = instance["x"] @ params["w"] + params["b"]
        y = instance["y"]
        return jnp.mean(jnp.logaddexp(0.0, logits) - y * logits)


@tasks.register("logistic_regression")
@dataclasses.dataclass(frozen=True)
class LogisticRegressionConfig(tasks.TaskConfig):
    kind: Literal["logistic_regression"] = "logistic_regression"
    dim: int = config.field(8, ge=1)
    points: int = config.field(64, ge=1)

    def build(self):
        return LogisticRegression(dim=self.dim, points=self.points)


# %% [markdown]
# Meta-training: the coordinatewise LSTM of Andrychowicz et al. (2016), unrolled 40 steps in
# truncations of 10, 32 instances per meta-step. `meta.train` checkpoints into `output_dir` (a
# killed run resumes) and keeps the best optimizer by validation as `best.l2l`.

# %%
cfg = meta.MetaTrainConfig(
    task=LogisticRegressionConfig(),
    optimizer=learned.LSTMOptimizerConfig(hidden_sizes=(20, 20), output_scale=0.1),
    meta_optimizer=meta.MetaOptimizerConfig(learning_rate=3e-3),
    horizon=40,
    truncation=10,
    batch_size=32,
    meta_steps=40 if SMALL else 600,
    eval_every=20 if SMALL else 100,
    eval_instances=32,
    output_dir=str(OUT),
)
run = meta.train(cfg, show_progress=not SMALL, resume=False)
print(f"meta-trained {run.steps} meta-steps in {run.seconds:.0f}s; best at {run.best_step}")

# %% [markdown]
# Reload the trained optimizer from its file (any process, any machine: the file holds the
# architecture, the weights and what it was trained on), and compare it with its untrained self
# and with Adam tuned on other instances, on 64 held-out instances.

# %%
trained = learned.read(OUT / "best.l2l")
untrained = cfg.optimizer.optimizer(learned.init_meta_params(jax.random.key(0), cfg.optimizer))
task = cfg.task.build()
keys = unroll.instance_keys(seed=0, which=unroll.TEST_SET, num=64)


def mean_summed_loss(optimizer):
    return float(np.mean(evaluate.summed_loss(unroll.run_optimizer(optimizer, task, keys, 40))))


print(f"untrained LSTM: mean summed loss {mean_summed_loss(untrained):.4f}")
print(
    f"trained LSTM:   mean summed loss {mean_summed_loss(l2l.load_learned(OUT / 'best.l2l')):.4f}"
)

comparison = evaluate.compare(
    cfg.task,
    baselines=[
        evaluate.BaselineConfig.of("adam", lr_min=1e-3, lr_max=1.0, num_lrs=4 if SMALL else 13)
    ],
    learned_optimizers=[str(OUT / "best.l2l")],
    steps=40,
    num_tuning=32,
    num_test=64,
    show_progress=False,
)
print(comparison.table())
print(f"trained on: {trained.info['trained_on']}")
