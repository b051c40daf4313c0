"""Per-group networks (``kind: grouped``, the paper's LSTM-sep): each leaf gets the update of its
group's network, unassigned leaves are a clear error, the config is read from YAML and saved in the
optimizer file, and a grouped optimizer meta-trains (with PES) through the engine."""

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from l2l import config, learned, meta, tasks
from l2l.learned import (
    FeatureConfig,
    GroupConfig,
    GroupedOptimizerConfig,
    LSTMOptimizerConfig,
    MLPOptimizerConfig,
    TensorFeatureConfig,
    UnassignedParametersError,
)
from l2l.learned.groups import assign

SLIM_FEATURES = TensorFeatureConfig(
    momentum_decays=(0.9,), factored_decays=(0.9,), timescales=(3.0,), eps=1e-3
)
LSTM = LSTMOptimizerConfig(
    hidden_sizes=(3,), features=FeatureConfig(kind="log_sign"), output_init_scale=0.3
)
MLP = MLPOptimizerConfig(
    hidden_sizes=(4,), features=SLIM_FEATURES, step_mult=0.1, exp_mult=0.5, output_init_scale=0.5
)
CONFIG = GroupedOptimizerConfig(
    groups=(
        GroupConfig("conv", LSTM, ranks=(4,)),  # conv kernels: rank 4
        GroupConfig("dense", MLP, match=("*/kernel",)),  # the kernels the conv group left
        GroupConfig("unused", MLP, match=("nothing/*",)),  # a group no leaf of these params is in
    ),
    default=dataclasses.replace(MLP, hidden_sizes=(3,)),  # biases and the rest
)


def conv_net_params():
    keys = jax.random.split(jax.random.key(0), 5)
    return {
        "Conv_0": {
            "kernel": jax.random.normal(keys[0], (2, 2, 1, 3)),
            "bias": jax.random.normal(keys[1], (3,)),
        },
        "Dense_0": {
            "kernel": jax.random.normal(keys[2], (3, 4)),
            "bias": jax.random.normal(keys[3], (4,)),
        },
        "scale": jax.random.normal(keys[4], ()),
    }


def test_each_leaf_gets_the_update_its_groups_network_gives_alone():
    params = conv_net_params()
    assert assign(params, CONFIG) == {
        "Conv_0": {"kernel": "conv", "bias": "default"},
        "Dense_0": {"kernel": "dense", "bias": "default"},
        "scale": "default",
    }
    meta_params = CONFIG.init_meta_params(jax.random.key(1))
    assert set(meta_params) == {"conv", "dense", "unused", "default"}
    grouped = CONFIG.optimizer(meta_params)
    # The oracle: each group's own optimizer on a pytree of its leaves only.
    alone = {name: cfg.optimizer(meta_params[name]) for name, cfg in CONFIG.networks.items()}
    alone_update = {name: jax.jit(opt.update) for name, opt in alone.items()}

    def split(tree):
        return {
            "conv": {"k": tree["Conv_0"]["kernel"]},
            "dense": {"k": tree["Dense_0"]["kernel"]},
            "default": {
                "b1": tree["Conv_0"]["bias"],
                "b2": tree["Dense_0"]["bias"],
                "s": tree["scale"],
            },
        }

    state = grouped.init(params)
    alone_states = {name: alone[name].init(p) for name, p in split(params).items()}
    update = jax.jit(grouped.update)
    for t in range(3):
        grads = jax.tree.map(lambda p, t=t: jnp.sin(p + t), params)
        updates, state = update(grads, state, params)
        g_parts, p_parts, u_parts = split(grads), split(params), split(updates)
        for name in g_parts:
            want, alone_states[name] = alone_update[name](
                g_parts[name], alone_states[name], p_parts[name]
            )
            jax.tree.map(
                lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                u_parts[name],
                want,
            )
        params = jax.tree.map(lambda p, u: p + u, params, updates)
    # The groups' weights differ, and it shows: the dense network would move the conv kernel
    # differently (its own update, above, is the conv LSTM's).
    dense_on_conv = alone_update["dense"](
        {"k": grads["Conv_0"]["kernel"]},
        alone["dense"].init({"k": params["Conv_0"]["kernel"]}),
        {"k": params["Conv_0"]["kernel"]},
    )[0]["k"]
    assert not np.allclose(dense_on_conv, u_parts["conv"]["k"], rtol=1e-2)


def test_leaves_no_group_takes_are_an_error_that_names_them():
    strict = dataclasses.replace(CONFIG, default=None)
    params = conv_net_params()
    with pytest.raises(UnassignedParametersError) as err:
        strict.optimizer(strict.init_meta_params(jax.random.key(0))).init(params)
    message = str(err.value)
    for path in ("Conv_0/bias", "Dense_0/bias", "scale"):
        assert path in message
    assert "Conv_0/kernel" not in message and "`default:`" in message
    # A config's mistakes are caught when it is built.
    with pytest.raises(ValueError, match="repeated: conv"):
        GroupedOptimizerConfig(groups=(GroupConfig("conv"), GroupConfig("conv")))
    with pytest.raises(ValueError, match="'default' is reserved"):
        GroupedOptimizerConfig(groups=(GroupConfig("default"),), default=MLP)


def test_a_grouped_config_is_read_from_yaml_and_saved_in_the_optimizer_file(tmp_path):
    path = tmp_path / "grouped.yaml"
    path.write_text(
        """
optimizer:
  kind: grouped
  groups:
    - name: conv
      ranks: [4]
      optimizer: {kind: lstm, hidden_sizes: [3], output_init_scale: 0.3}
    - name: dense
      match: ["*/kernel"]
      optimizer:
        kind: mlp
        hidden_sizes: [4]
        step_mult: 0.1
        exp_mult: 0.5
        output_init_scale: 0.5
        features: {momentum_decays: [0.9], factored_decays: [0.9], timescales: [3], eps: 1.0e-3}
    - name: unused
      match: ["nothing/*"]
      optimizer: {kind: mlp, hidden_sizes: [4], step_mult: 0.1, exp_mult: 0.5,
                  output_init_scale: 0.5,
                  features: {momentum_decays: [0.9], factored_decays: [0.9], timescales: [3],
                             eps: 1.0e-3}}
  default: {kind: mlp, hidden_sizes: [3], step_mult: 0.1, exp_mult: 0.5, output_init_scale: 0.5,
            features: {momentum_decays: [0.9], factored_decays: [0.9], timescales: [3],
                       eps: 1.0e-3}}
"""
    )
    cfg = config.load(meta.MetaTrainConfig, path)
    assert cfg.optimizer == CONFIG
    changed = config.load(
        meta.MetaTrainConfig, path, ["optimizer.groups.1.optimizer.hidden_sizes=[7]"]
    )
    assert changed.optimizer.groups[1].optimizer.hidden_sizes == (7,)
    with pytest.raises(config.ConfigError, match="'optimizer.groups.0.colour'"):
        config.load(meta.MetaTrainConfig, path, ["optimizer.groups.0.colour=red"])
    with pytest.raises(config.ConfigError, match="optimizer.groups.0.optimizer.kind.*'lstmm'"):
        config.load(meta.MetaTrainConfig, path, ["optimizer.groups.0.optimizer.kind=lstmm"])
    # The trained-optimizer file stores the groups and every group's weights.
    meta_params = CONFIG.init_meta_params(jax.random.key(5))
    saved = learned.save(tmp_path / "grouped.l2l", meta_params, cfg.optimizer, {"note": "test"})
    back = learned.read(saved)
    assert back.config == CONFIG
    jax.tree.map(np.testing.assert_array_equal, back.meta_params, meta_params)


# --------------------------------------------------------------------------- meta-training


class Regression(NamedTuple):
    X: jax.Array  # (5, 3) inputs
    Y: jax.Array  # (5, 2) targets


@struct.dataclass
class LinearRegression:
    """mean ||X W + b - Y||^2 over a random (X, Y): a task whose params are a kernel and a bias."""

    def sample(self, key):
        kx, ky = jax.random.split(key)
        return Regression(jax.random.normal(kx, (5, 3)), jax.random.normal(ky, (5, 2)))

    def init(self, key, instance):
        del instance
        return {"dense": {"kernel": 0.5 * jax.random.normal(key, (3, 2)), "bias": jnp.zeros(2)}}

    def loss(self, params, instance, key=None):
        del key
        p = params["dense"]
        return jnp.mean((instance.X @ p["kernel"] + p["bias"] - instance.Y) ** 2)


@tasks.register("test_groups_regression")
@dataclasses.dataclass(frozen=True)
class LinearRegressionConfig(tasks.TaskConfig):
    kind: Literal["test_groups_regression"] = "test_groups_regression"

    def build(self) -> LinearRegression:
        return LinearRegression()


def test_a_grouped_optimizer_meta_trains_with_pes_and_its_file_gives_the_same_updates(tmp_path):
    opt_cfg = GroupedOptimizerConfig(
        groups=(GroupConfig("kernels", MLP, match=("*/kernel",)),), default=LSTM
    )
    cfg = meta.MetaTrainConfig(
        task=LinearRegressionConfig(),
        optimizer=opt_cfg,
        meta_optimizer=meta.MetaOptimizerConfig(learning_rate=0.03, decay_to=1.0),
        estimator="pes",
        es_sigma=0.01,
        horizon=8,
        truncation=4,
        batch_size=2,
        meta_steps=4,
        eval_every=4,
        eval_instances=2,
        remat=False,
        output_dir=str(tmp_path),
    )
    initial = opt_cfg.init_meta_params(jax.random.fold_in(jax.random.key(cfg.seed), 0))
    run = meta.train(cfg, show_progress=False)
    assert run.skipped == 0 and np.isfinite(run.best_score)
    for name in ("kernels", "default"):  # both groups' networks were trained
        moved = jax.tree.map(
            lambda a, b: float(np.max(np.abs(a - b))), run.meta_params[name], initial[name]
        )
        assert max(jax.tree.leaves(moved)) > 1e-4
    trained = learned.read(tmp_path / "best.l2l")
    assert trained.config == opt_cfg
    params = LinearRegression().init(jax.random.key(3), None)
    grads = jax.tree.map(lambda p: p + 0.2, params)

    @functools.partial(jax.jit, static_argnums=0)
    def first_update(optimizer_config, meta_params):  # what learned.load(path) computes
        opt = optimizer_config.optimizer(meta_params)
        return opt.update(grads, opt.init(params), params)[0]

    jax.tree.map(
        np.testing.assert_array_equal,
        first_update(trained.config, trained.meta_params),
        first_update(opt_cfg, run.best_meta_params),
    )
