"""The no-tuning study (``l2l no-tuning``): every contender of the shipped config is the optax
object it names (its updates equal a directly built one's), every stack starts from the step size
it claims, a tiny run through ``l2l.cli.main`` on Fashion-MNIST writes its table, figure and JSON
with numbers that match a plain training loop, and a bad config is a one-line error."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import cli, hyper
from l2l import config as config_lib
from l2l.experiments import EXPERIMENTS, experiment, no_tuning
from l2l.specs import StackSpec

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "no_tuning.yaml"
FASHION_DIR = REPO.parent / "shared" / "data" / "fashion-mnist"
TUNED = {"sgd": 0.3, "adam": 3e-3}  # Stand-ins for the tuned step sizes.

contrib = optax.contrib
# What each contender of the shipped config must be, built directly from optax (value: the swept
# argument's value; None: the optimizer's defaults).
DIRECT = {
    "SGD": lambda v: optax.sgd(v),
    "Adam": lambda v: optax.adam(v),
    "Prodigy, d0 = m α*": lambda v: contrib.prodigy(estim_lr0=v),
    "Prodigy, lr = m": lambda v: contrib.prodigy(learning_rate=v),
    "D-Adapt Adam, d0 = m α*": lambda v: contrib.dadapt_adamw(estim_lr0=v),
    "D-Adapt Adam, lr = m": lambda v: contrib.dadapt_adamw(learning_rate=v),
    "DoG, η0 = m α*(SGD)": lambda v: (
        contrib.dog() if v is None else contrib.dog(init_step=("learning_rate", v))
    ),
    "DoG, reps_rel = m 1e-6": lambda v: contrib.dog(init_step=("heuristic", v)),
    "Mechanic(Adam), inner α = m α*": lambda v: contrib.mechanize(optax.adam(v)),
    "COCOB": lambda v: contrib.cocob(),
    "Schedule-free AdamW, α = m α*": lambda v: contrib.schedule_free_adamw(v),
}
LEVELS = {"sgd": hyper.sgd, "adam": hyper.adam}


def _rules(contender):
    return tuple(level.optimizer for level in contender.optimizer.levels)


def _direct_stack(contender, value):
    bottom, *upper = _rules(contender)
    spec = contender.optimizer
    options = {"mode": spec.mode}
    if spec.mode == "run":
        options["discount"] = spec.discount
    return hyper.stack(LEVELS[bottom](value), *(LEVELS[rule]() for rule in upper), **options)


@pytest.fixture(scope="module")
def shipped():
    return config_lib.load(no_tuning.Config, CONFIG)


def test_every_contender_is_the_optax_object_its_config_names(shipped, quadratic_updates):
    names = {c.name for c in shipped.contenders}
    stacks = [c for c in shipped.contenders if isinstance(c.optimizer, StackSpec)]
    assert names == set(DIRECT) | {c.name for c in stacks}
    # Every parameter-free optimizer of the issue that this optax provides is a contender.
    offered = {"prodigy", "dog", "mechanize", "cocob", "dadapt_adamw", "schedule_free_adamw"}
    assert offered <= set(dir(contrib))
    assert offered <= {c.rule for c in shipped.contenders}
    assert {c.optimizer.kind for c in shipped.contenders} == {"optax", "stack"}
    for contender in shipped.contenders:
        reference = contender.reference_value(TUNED)
        values = [contender.default_value()]
        if reference is not None:
            values.append(1e-2 * reference)
        for value in values:
            if isinstance(contender.optimizer, StackSpec):
                if value == contender.default_value():
                    continue  # The stacks' defaults are checked below.
                direct = _direct_stack(contender, value)
            else:
                direct = DIRECT[contender.name](value)
            ours = quadratic_updates(contender.build(value), 2)[0]
            theirs = quadratic_updates(direct, 2)[0]
            for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{contender.name}, value {value}")
    # Defaults: the factory's (a stack's bottom: l2l.hyper's, i.e. l2l.optimizers', default).
    default = {c.name: c.default_value() for c in shipped.contenders}
    assert default["SGD"] == 0.01 and default["Adam"] == 1e-3
    assert default["SGD / SGD, one-step"] == 0.01 and default["Adam / SGD, whole run"] == 1e-3
    assert default["Prodigy, d0 = m α*"] == 1e-6 and default["Prodigy, lr = m"] == 1.0
    assert default["DoG, η0 = m α*(SGD)"] is None and default["DoG, reps_rel = m 1e-6"] == 1e-6
    assert default["Schedule-free AdamW, α = m α*"] == 0.0025 and default["COCOB"] is None


def test_each_stack_starts_from_the_step_size_it_claims(shipped):
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    stacks = [c for c in shipped.contenders if isinstance(c.optimizer, StackSpec)]
    assert {(_rules(c), c.optimizer.mode) for c in stacks} == {
        (rules, mode)
        for rules in [("sgd", "sgd"), ("adam", "sgd"), ("adam", "adam", "sgd")]
        for mode in ("forward", "run")
    }
    for contender in stacks:
        assert contender.source == _rules(contender)[0] and contender.family == "stack"
        for m in shipped.multipliers:
            claimed = m * TUNED[contender.source]
            state = contender.build(claimed).init(params)
            levels = hyper.hyperparams(state)
            assert float(levels[0]["learning_rate"]) == pytest.approx(claimed, rel=1e-6)
            assert float(levels[-1]["learning_rate"]) == pytest.approx(0.2)  # The defaults.
            assert len(levels) == len(_rules(contender))
        state = contender.build(None).init(params)  # The default start.
        assert float(hyper.hyperparams(state)[0]["learning_rate"]) == pytest.approx(
            contender.default_value(), rel=1e-6
        )
        spec = contender.optimizer
        assert spec.discount == (0.99 if spec.mode == "run" else 1.0)


def _contenders():
    return (
        "[{name: Adam, optimizer: {kind: optax, name: adam}, reference: adam},"
        " {name: Adam / SGD, optimizer: {kind: stack, levels: [adam, sgd]}, reference: adam}]"
    )


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="the shared Fashion-MNIST files are not here")
def test_a_tiny_run_through_the_cli_writes_every_number(tmp_path, capsys):
    assert experiment(EXPERIMENTS[("no-tuning",)].module) is no_tuning
    out = tmp_path / "run"
    overrides = [
        f"task.data_dir={FASHION_DIR}",
        "task.hidden_sizes=[4]",
        "seeds=2",
        "steps=5",
        "multipliers=[0.01, 1.0]",
        "tuning.num_lrs=3",
        "tuning.lr_min=1e-3",
        "tuning.lr_max=0.1",
        "tuning.seeds=2",  # As many as the reported seeds: one compiled Adam.
        "timing.steps=2",
        "timing.repeats=2",  # Two paired ratios per contender.
        f"contenders={_contenders()}",
        f"output_dir={out}",
    ]
    assert cli.main(["no-tuning", str(CONFIG), *overrides]) == 0
    printed = capsys.readouterr().out
    names = ["results.json", "table.md", "robustness.png", "config.yaml"]
    assert f"wrote into {out}: {' '.join(names)}" in printed
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "results.json").read_text())
    assert (saved["num_train"], saved["num_validation"], saved["num_test"]) == (55000, 5000, 10000)
    assert saved["steps"] == 5 and list(saved["tuning"]) == ["adam"]  # Only what is referenced.

    # Tuning picks the grid's lowest validation loss.
    tuning = saved["tuning"]["adam"]
    assert tuning["grid"] == pytest.approx([1e-3, 1e-2, 0.1])
    alpha = tuning["grid"][int(np.argmin(tuning["validation_loss"]))]
    assert tuning["best"] == alpha
    results = {r["name"]: r for r in saved["results"]}

    # Tuned Adam (m = 1), seed by seed, is a plain optax.adam loop on the experiment's keys.
    cfg = config_lib.load(no_tuning.Config, CONFIG, overrides)
    task = cfg.task.build()
    adam = results["Adam"]["starts"][1]
    assert adam["multiplier"] == 1.0 and adam["value"] == pytest.approx(alpha)
    from l2l.data import load_dataset

    test = load_dataset("fashion-mnist", FASHION_DIR).test
    keys = jax.random.split(jax.random.fold_in(jax.random.key(0), 0), 2)
    for k, key in enumerate(keys):
        init_key, data_key = jax.random.split(key)
        params = task.init(init_key)
        optimizer = optax.adam(np.float32(alpha))
        state = optimizer.init(params)
        for t in range(5):
            grads = jax.grad(task.loss)(params, None, jax.random.fold_in(data_key, t))
            updates, state = optimizer.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        error = 100 * float(task.error_rate(params, jnp.asarray(test.images), test.labels))
        loss = float(task.full_loss(params, task.images, task.labels))
        assert adam["test_error"]["per_seed"][k] == pytest.approx(error, abs=1e-3)
        assert adam["train_loss"]["per_seed"][k] == pytest.approx(loss, rel=1e-4)

    # Every gap is the paired difference to tuned Adam; the summaries are the cells' numbers.
    reference = np.asarray(adam["test_error"]["per_seed"])
    for r in saved["results"]:
        cells = [r["default"], *r["starts"]]
        for cell in cells:
            gap = np.asarray(cell["test_error"]["per_seed"]) - reference
            np.testing.assert_allclose(cell["gap"]["per_seed"], gap, atol=1e-9)
        assert r["worst_test_error"] == max(c["test_error"]["mean"] for c in cells)
        assert r["time_ratio"] is not None and len(r["time_ratio"]["per_seed"]) == 2
    stack = results["Adam / SGD"]
    assert [c["value"] for c in stack["starts"]] == pytest.approx([0.01 * alpha, alpha])
    assert stack["default"]["value"] == pytest.approx(1e-3)
    medians = [np.median(c["train_loss"]["per_seed"]) for c in stack["starts"]]
    assert stack["spread_decades"] == pytest.approx(np.log10(max(medians) / min(medians)))
    assert (
        saved["most_robust"]
        == min((r for r in saved["results"] if r["starts"]), key=lambda r: r["worst_test_error"])[
            "name"
        ]
    )

    table = (out / "table.md").read_text()
    assert table.startswith("| optimizer | test error % at its defaults (2 seeds) |")
    d = results["Adam / SGD"]["default"]["test_error"]
    assert f"| Adam / SGD (learning_rate = 0.001) | {d['mean']:.2f} ± {d['sd']:.2f} |" in table
    assert f"Most robust: {saved['most_robust']}" in printed
    assert config_lib.load(no_tuning.Config, out / "config.yaml") == cfg
    # The results file gives back the report the tables were made from (docs/no_tuning.md's).
    from l2l.experiments import no_tuning_report

    again = no_tuning.report_of(saved)
    assert no_tuning_report.format_table(again) + "\n\n" in table
    assert no_tuning_report.format_starts(again) + "\n\n" in table
    assert again.config == cfg


def test_config_mistakes_are_one_line_errors(capsys, tmp_path):
    cases = [
        ("contenders.0.sweeep=x", "unknown key 'contenders.0.sweeep'"),
        ("contenders.8.optimizer=prodigi", "Did you mean 'prodigy'"),
        ("contenders.8.sweep=estim_lr", "prodigy has no argument 'estim_lr'"),
        ("multipliers=[0.1, 10]", "multipliers must include 1"),
        ("contenders.2.optimizer.levels=[sgd, adamz]", "level cannot use optimizer 'adamz'"),
        ("contenders.0.sweep=estim_lr0", "sgd has no argument 'estim_lr0'"),
    ]
    for override, expected in cases:
        assert cli.main(["no-tuning", str(CONFIG), override, f"output_dir={tmp_path}"]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(config_lib.ConfigError, match="plain Adam swept from the tuned"):
        config_lib.from_dict(no_tuning.Config, {"contenders": [{"name": "x", "optimizer": "sgd"}]})


def test_the_old_contender_layout_is_read_with_a_deprecation_warning(quadratic_updates):
    old = [
        {"name": "Adam", "optimizer": "adam", "reference": "adam"},
        {"name": "A/S", "stack": ["adam", "sgd"], "mode": "run", "reference": "adam"},
        {"name": "M", "optimizer": "mechanic_adam", "hyperparams": {"s_init": 1e-5}},
        {"name": "P", "optimizer": "prodigy", "hyperparams": {"b1": 0.8}, "sweep": "estim_lr0"},
    ]
    with pytest.warns(DeprecationWarning, match="l2l 0.2's layout"):
        cfg = config_lib.from_dict(no_tuning.Config, {"contenders": old})
    adam, stack, mechanic, prodigy = cfg.contenders
    assert (stack.optimizer.mode, stack.optimizer.discount, _rules(stack)) == (
        "run",
        0.99,
        ("adam", "sgd"),
    )
    assert mechanic.optimizer.name == "mechanize" and mechanic.default_value() == 1.0
    direct = contrib.mechanize(optax.adam(2e-3), s_init=1e-5)
    for a, b in zip(
        jax.tree.leaves(quadratic_updates(mechanic.build(2e-3), 2)[0]),
        jax.tree.leaves(quadratic_updates(direct, 2)[0]),
    ):
        np.testing.assert_array_equal(a, b)
    direct = contrib.prodigy(betas=(0.8, 0.999), estim_lr0=3e-6)
    for a, b in zip(
        jax.tree.leaves(quadratic_updates(prodigy.build(3e-6), 2)[0]),
        jax.tree.leaves(quadratic_updates(direct, 2)[0]),
    ):
        np.testing.assert_array_equal(a, b)
    assert adam.family == "plain" and prodigy.family == "parameter-free"
