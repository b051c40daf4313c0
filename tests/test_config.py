import dataclasses
import warnings
from typing import ClassVar, Literal

import pytest

from l2l import config as config_lib
from l2l.config import ConfigError, field
from l2l.evaluate import BaselineConfig
from l2l.experiments.evaluate import Config as EvaluateConfig
from l2l.tasks import QuadraticConfig


@dataclasses.dataclass(frozen=True)
class Inner:
    rate: float = field(0.5, gt=0, le=1)
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass(frozen=True)
class Outer:
    steps: int = field(10, ge=1)
    name: str = "x"
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(Inner())
    items: tuple[Inner, ...] = field((Inner(), Inner(rate=0.25)))
    extra: dict[str, float] = field({})
    maybe: float | None = None


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_load_builds_typed_frozen_config(tmp_path):
    path = write(
        tmp_path, "steps: 20\nsizes: [3, 4]\ninner: {rate: 1e-3, mode: b}\nextra: {gamma: 2}\n"
    )
    cfg = config_lib.load(Outer, path)
    assert cfg.steps == 20 and cfg.sizes == (3, 4)
    assert cfg.inner == Inner(rate=1e-3, mode="b")  # YAML's "1e-3" string is read as a float
    assert cfg.extra == {"gamma": 2.0} and isinstance(cfg.extra["gamma"], float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("stepz: 3\n", "stepz", "unknown key 'stepz'"),
        ("inner: {rat: 3}\n", "inner.rat", "unknown key 'inner.rat'"),
        ("steps: 2.5\n", "steps", "expected int"),
        ("steps: 0\n", "steps", "expected a value >= 1"),
        ("flag: 1\n", "flag", "expected bool"),
        ("inner: {rate: 2}\n", "inner.rate", "expected a value <= 1"),
        ("inner: {rate: 0}\n", "inner.rate", "expected a value > 0"),
        ("inner: {mode: c}\n", "inner.mode", "expected one of 'a', 'b'"),
        ("items: [{rate: 0.1}, {rate: -1}]\n", "items.1.rate", "expected a value > 0"),
        ("sizes: 3\n", "sizes", "expected a list"),
        ("maybe: abc\n", "maybe", "expected float"),
        ("extra: {gamma: nan}\n", "extra.gamma", "finite"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config_lib.load(Outer, path)
    message = str(err.value)
    assert str(path) in message and key in message and expected in message


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        config_lib.load(Outer, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config_lib.load(Outer, write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_lib.load(Outer, write(tmp_path, "steps: [1\n"))


def test_dotted_overrides(tmp_path):
    path = write(tmp_path, "steps: 5\n")
    cfg = config_lib.load(
        Outer, path, ["steps=7", "inner.rate=0.125", "items.1.mode=b", "maybe=null"]
    )
    assert (
        cfg.steps == 7
        and cfg.inner.rate == 0.125
        and cfg.items[1].mode == "b"
        and cfg.maybe is None
    )
    with pytest.raises(ConfigError, match="key=value"):
        config_lib.load(Outer, path, ["steps"])
    with pytest.raises(ConfigError, match="list index below 2"):
        config_lib.load(Outer, path, ["items.5.rate=0.1"])
    with pytest.raises(ConfigError, match="unknown key 'inner.speed'"):
        config_lib.load(Outer, path, ["inner.speed=3"])


def test_round_trip(tmp_path):
    cfg = Outer(steps=3, sizes=(5,), inner=Inner(rate=0.75, mode="b"), extra={"k": 1.5}, maybe=0.5)
    config_lib.save(cfg, tmp_path / "saved.yaml")
    assert config_lib.load(Outer, tmp_path / "saved.yaml") == cfg


def test_experiment_configs_validate_their_meaning(tmp_path):
    with pytest.raises(ConfigError, match="baselines.0.optimizer.*'adamq' names no rule.*"):
        config_lib.load(EvaluateConfig, write(tmp_path, "baselines: [{optimizer: adamq}]\n"))
    with pytest.raises(ConfigError, match="baselines.0.*lr_max"):
        config_lib.load(
            EvaluateConfig,
            write(tmp_path, "baselines: [{optimizer: sgd, lr_min: 1, lr_max: 0.1}]\n"),
        )
    with pytest.raises(ConfigError, match="baselines.0.optimizer.*gama"):
        config_lib.load(
            EvaluateConfig,
            write(
                tmp_path,
                "baselines: [{optimizer: {name: momentum, hyperparams: {gama: 0.9}}}]\n",
            ),
        )
    # Any optax factory is a baseline, tuned over its learning rate.
    cfg = config_lib.load(
        EvaluateConfig,
        write(tmp_path, "baselines: [{optimizer: {kind: optax, name: lion}, num_lrs: 3}]\n"),
    )
    assert cfg.baselines[0].name == "lion" and len(cfg.baselines[0].lr_grid) == 3
    with pytest.raises(ConfigError, match="key 'task': hidden_sizes must be positive"):
        config_lib.load(
            EvaluateConfig, write(tmp_path, "task: {kind: mlp, hidden_sizes: [20, 0]}\n")
        )
    with pytest.raises(
        ConfigError,
        match="task.kind.*unknown task kind 'cnn'.*Known: autoencoder, conv, distribution, "
        "markov_rnn, mix, mlp, mlp_mix, noisy_quadratic, quadratic, random_reparam, reparam, ",
    ):
        config_lib.load(EvaluateConfig, write(tmp_path, "task: {kind: cnn}\n"))
    with pytest.raises(ConfigError, match="task.kind.*'quadratc'. Did you mean 'quadratic'"):
        config_lib.load(EvaluateConfig, write(tmp_path, "task: {kind: quadratc}\n"))
    # Each kind reads only its own keys: a quadratic has no hidden layers.
    with pytest.raises(ConfigError, match="unknown key 'task.hidden_sizes'"):
        config_lib.load(EvaluateConfig, write(tmp_path, "task: {hidden_sizes: [20]}\n"))


def test_shipped_evaluate_config_is_the_embedded_default():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shipped = config_lib.load(EvaluateConfig, root / "configs" / "quadratic_baselines.yaml")
    assert shipped == EvaluateConfig()
    assert shipped.task == QuadraticConfig(dim=10)
    assert [b.name for b in shipped.baselines] == ["sgd", "momentum", "nesterov", "rmsprop", "adam"]
    assert isinstance(shipped.baselines[0], BaselineConfig)


def test_every_shipped_config_loads_with_the_command_that_reads_it():
    from pathlib import Path

    from l2l.experiments import (
        benchmark,
        hyper_mnist,
        meta_train,
        no_tuning,
        no_tuning_suite,
        responses,
        short_horizon,
        surfaces,
        talk_example,
        zero_machine,
    )

    MetaTrainConfig = meta_train.Config
    readers = {
        "benchmark": benchmark.Config,
        "hyper_mnist": hyper_mnist.Config,
        "hyper_defaults": hyper_mnist.Config,
        "fashion_mix_mlp_lopt": MetaTrainConfig,
        "general_mlp_lopt": MetaTrainConfig,
        "mnist_mlp_lopt": MetaTrainConfig,
        "quadratic_mlp_lopt": MetaTrainConfig,
        "generalization_matrix": EvaluateConfig,
        "no_tuning": no_tuning.Config,
        "no_tuning_suite": no_tuning_suite.Config,
        "short_horizon": short_horizon.Config,
        "mnist_generalization": EvaluateConfig,
        "mnist_lstm": MetaTrainConfig,
        "mnist_mix_lstm": MetaTrainConfig,
        "mnist_moments_lstm": MetaTrainConfig,
        "quadratic_baselines": EvaluateConfig,
        "quadratic_lstm": MetaTrainConfig,
        "quadratic_lstm_eval": EvaluateConfig,
        "study_responses": responses.Config,
        "study_surfaces": surfaces.Config,
        "talk_example": talk_example.Config,
        "zero_machine": MetaTrainConfig,
        "zero_machine_eval": zero_machine.Config,
    }
    shipped_dir = Path(__file__).resolve().parents[1] / "configs"
    shipped = sorted(shipped_dir.glob("*.yaml"))
    assert {p.stem for p in shipped} == set(readers), "a config without a reader listed here"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # shipped configs use current names
        loaded = {path.stem: config_lib.load(readers[path.stem], path) for path in shipped}
    mix = loaded["mnist_mix_lstm"]
    assert [(a.hidden_sizes, a.activation) for a in mix.task.architectures] == [
        ((20,), "sigmoid"),
        ((40,), "sigmoid"),
        ((20, 20), "sigmoid"),
        ((20,), "relu"),
    ]
    # An override that changes nothing changes nothing: the file means the same config with
    # overrides as without (a section the file gives in part kept its class's defaults only
    # without overrides: `robustness.seeds=3` turned hyper_defaults' stacks into raw ones).
    for path in shipped:
        cfg = loaded[path.stem]
        again = config_lib.load(readers[path.stem], path, [f"output_dir={cfg.output_dir}"])
        assert again == cfg, f"{path.name}: an override of output_dir changed other keys"
    seeds = loaded["hyper_defaults"].robustness.seeds
    again = config_lib.load(
        readers["hyper_defaults"],
        shipped_dir / "hyper_defaults.yaml",
        [f"robustness.seeds={seeds}"],
    )
    assert again == loaded["hyper_defaults"]
    adam = config_lib.load(
        readers["hyper_defaults"],
        shipped_dir / "hyper_defaults.yaml",
        ["robustness.bottom.optimizer=adam"],
    )
    assert adam.robustness.bottom == config_lib.from_dict(
        type(adam.robustness.bottom), {"optimizer": "adam"}
    )
    assert adam.robustness.top == loaded["hyper_defaults"].robustness.top


def test_mlp_mix_task_config_names_its_architectures(tmp_path):
    with pytest.raises(ConfigError, match="key 'task'.*kind mlp_mix needs at least one"):
        config_lib.load(EvaluateConfig, write(tmp_path, "task: {kind: mlp_mix}\n"))
    with pytest.raises(ConfigError, match="unknown key 'task.architectures'"):
        config_lib.load(
            EvaluateConfig,
            write(tmp_path, "task: {kind: mlp, architectures: [{hidden_sizes: [5]}]}\n"),
        )
    with pytest.raises(
        ConfigError, match="key .task.architectures.0.: hidden_sizes must be positive"
    ):
        config_lib.load(
            EvaluateConfig,
            write(tmp_path, "task: {kind: mlp_mix, architectures: [{hidden_sizes: [0]}]}\n"),
        )


@dataclasses.dataclass(frozen=True)
class Renamed:
    __renamed__: ClassVar[dict[str, str]] = {"lr": "learning_rate"}

    learning_rate: float = field(0.1, gt=0)


def test_a_renamed_key_still_reads_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="key 'lr' is deprecated; use 'learning_rate'"):
        assert config_lib.load(Renamed, write(tmp_path, "lr: 0.5\n")).learning_rate == 0.5
    with pytest.raises(ConfigError, match="'lr' and its new spelling 'learning_rate'"):
        config_lib.load(Renamed, write(tmp_path, "lr: 0.5\nlearning_rate: 0.2\n"))


def test_a_section_of_another_kind_replaces_the_default_section_under_overrides(tmp_path):
    # Overrides fill unset keys from the defaults; a task of another kind must not inherit the
    # default quadratic's keys (dim, distribution), which an MLP does not have.
    path = write(tmp_path, "task: {kind: mlp, hidden_sizes: [7]}\n")
    cfg = config_lib.load(EvaluateConfig, path, ["task.batch_size=16", "steps=5"])
    assert cfg.task.kind == "mlp" and cfg.task.hidden_sizes == (7,) and cfg.task.batch_size == 16
    cfg = config_lib.load(EvaluateConfig, overrides=["task.dim=3"])
    assert cfg.task == QuadraticConfig(dim=3)
    # Switching the kind by an override drops the default kind's keys.
    cfg = config_lib.load(EvaluateConfig, overrides=["task.kind=mlp", "task.data_dir=/data"])
    assert cfg.task.kind == "mlp" and cfg.task.data_dir == "/data" and cfg.task.split == "train"


def test_field_defaults_are_not_shared_between_instances():
    @dataclasses.dataclass
    class Holder:
        items: dict[str, float] = field({})

    a, b = Holder(), Holder()
    a.items["x"] = 1.0
    assert b.items == {}
