"""``l2l no-tuning-suite``: each start against an independent run of the optimizer it names, the
pairing with the benchmark's tuned Adam, the share of (task, start) pairs recomputed by hand,
resuming, the refusals, and the shipped config."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import optax
import pytest

from l2l import unroll
from l2l.config import ConfigError, load
from l2l.experiments import benchmark as bm
from l2l.experiments import no_tuning_suite as nts
from l2l.experiments.benchmark_suite import SuiteTask, final_losses, run_keys
from l2l.experiments.starts import ContenderConfig
from l2l.specs import OptaxSpec
from l2l.tasks import QuadraticConfig

ROOT = Path(__file__).resolve().parents[2]
#: Two tasks of one kind (their programs compile once): the shares are over (task, start) pairs.
TINY = (
    SuiteTask("quad", "quadratic", QuadraticConfig(dim=4), 20, quick=True),
    SuiteTask("quad-2", "quadratic", QuadraticConfig(dim=4), 20),
)
BY_NAME = {c.name: c for c in nts.DEFAULT_CONTENDERS}
CONTENDERS = (BY_NAME["Adam"], BY_NAME["Adam / SGD"], BY_NAME["Prodigy, d0 = m α*"])
MULTIPLIERS = (0.01, 1.0, 10.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The benchmark's baselines tuned on two tiny tasks, then the starts study on them."""
    tmp = tmp_path_factory.mktemp("no_tuning_suite")
    bench = bm.Config(
        suite=TINY,
        baselines=bm.DEFAULT_BASELINES[:1],  # Adam: every contender here starts from its step
        optimizers=(),
        seeds=3,
        tuning_seeds=2,
        tune_baselines=True,
        baselines_file=str(tmp / "baselines.json"),
        bootstrap_reps=200,
        output_dir=str(tmp / "bench"),
    )
    bm.run(bench, show_progress=False)
    cfg = nts.Config(
        contenders=CONTENDERS,
        suite=TINY,
        baselines=bench.baselines,
        multipliers=MULTIPLIERS,
        seeds=3,
        baselines_file=bench.baselines_file,
        trace_tasks=("quad",),
        bootstrap_reps=200,
        output_dir=str(tmp / "out"),
    )
    report = nts.run(cfg, show_progress=False)
    baselines = json.loads((tmp / "baselines.json").read_text())
    return cfg, report, baselines


def test_each_start_is_the_optimizer_it_names_on_the_benchmarks_instances(tiny):
    """Plain Adam from m x tuned Adam's step size, recomputed by another code path (the unroll
    of optax.adam) on the benchmark's reported instances; its m = 1 start is tuned Adam's
    committed run."""
    cfg, report, baselines = tiny
    for task_cfg, task in zip(TINY, report.tasks, strict=True):
        tuned = baselines["tasks"][task_cfg.name]["baselines"][bm.ADAM]
        keys = run_keys(cfg.seed, "benchmark_reported", task_cfg.name, cfg.seeds)
        starts = task["contenders"]["Adam"]["starts"]
        for m, start in zip(MULTIPLIERS, starts, strict=True):
            assert start["value"] == pytest.approx(m * tuned["learning_rate"], rel=1e-6)
            curves = unroll.loss_curves(
                lambda v=start["value"]: optax.adam(v), task_cfg.task.build(), keys, task_cfg.steps
            )
            expected = final_losses(np.asarray(curves), task_cfg.steps)
            np.testing.assert_allclose(
                start["final_loss"], expected, rtol=1e-5, err_msg=f"{task_cfg.name} m={m}"
            )
            np.testing.assert_allclose(start["start_loss"], np.asarray(curves)[:, 0], rtol=1e-6)
        np.testing.assert_allclose(starts[1]["final_loss"], tuned["final_loss"], rtol=1e-5)
        assert task["adam_final_loss"] == pytest.approx(np.mean(tuned["final_loss"]), rel=1e-6)


def test_a_stack_starts_at_m_times_the_tuned_step_and_prodigy_at_its_estimate(tiny):
    """The trace's first point is the step size of the first update: the stack's bottom step size
    as given; Prodigy's first step is learning_rate (1) x d0 = m x tuned Adam's step (traces are
    kept at four digits); plain Adam's stays where it started."""
    _, report, _ = tiny
    for task in report.tasks:
        alpha = task["tuned"]["adam"]
        for label in ("Adam / SGD", "Prodigy, d0 = m α*"):
            starts = task["contenders"][label]["starts"]
            firsts = [s.get("step_size", [s["value"]])[0] for s in starts]  # none: constant
            np.testing.assert_allclose(firsts, [m * alpha for m in MULTIPLIERS], rtol=1e-3)
            traces = [s["step_size"] for s in starts if "step_size" in s]
            assert traces and all(len(t) == len(nts.trace_steps(task["steps"])) for t in traces)
        # Plain Adam's step size stays the value given: the results keep no trace of it.
        assert not any("step_size" in start for start in task["contenders"]["Adam"]["starts"])


def test_the_shares_are_the_pairs_whose_seed_mean_is_within(tiny):
    """The share of (task, start) pairs, per start and in all, recomputed from the final losses,
    and the runs that ended above their starting loss counted by hand; the interval holds the
    share."""
    cfg, report, _ = tiny
    for label in report.summaries:
        kept, above, runs = [], 0, 0
        for task in report.tasks:
            row = []
            for start in task["contenders"][label]["starts"]:
                final = np.asarray(start["final_loss"])
                ratio = np.where(np.isfinite(final), final / task["adam_final_loss"], 100.0)
                row.append(np.mean(np.minimum(ratio, 100.0)) <= cfg.within)
                above += int(
                    np.sum(~np.isfinite(final) | (final > np.asarray(start["start_loss"])))
                )
                runs += final.size
            kept.append(row)
        kept = np.asarray(kept)
        s = report.summaries[label]
        assert s.within.value == pytest.approx(kept.mean())
        assert s.within.low <= s.within.value <= s.within.high
        assert s.per_start == pytest.approx(
            {f"{m:g}": kept[:, i].mean() for i, m in enumerate(MULTIPLIERS)}
        )
        assert (s.above_start, s.runs) == (above, runs)
    # Tuned Adam (m = 1) is within 1.5x of itself on every task.
    assert report.summaries["Adam"].per_start["1"] == 1.0


def test_a_stopped_run_resumes_from_its_saved_runs(tiny, monkeypatch):
    cfg, report, _ = tiny

    def refuse(*args, **kwargs):
        raise AssertionError("a saved run was run again")

    monkeypatch.setattr(nts, "run_contender", refuse)
    again = nts.run(cfg, show_progress=False)
    assert again.tasks == report.tasks
    assert again.summaries == report.summaries


def test_write_gives_the_tables_and_the_figure(tiny, tmp_path):
    _, report, _ = tiny
    paths = nts.write(report, tmp_path)
    names = {p.name for p in paths}
    assert {"results.json", "summary.md", "step_sizes.png", "config.yaml"} <= names
    data = json.loads((tmp_path / "results.json").read_text())
    assert nts.summary_table(data) == (tmp_path / "summary.md").read_text().strip()
    assert "| Adam / SGD |" in nts.summary(report)


def test_config_refuses_mistakes(tiny):
    cfg, _, _ = tiny
    default = ContenderConfig("COCOB", OptaxSpec(name="cocob"), sweep=None)
    with pytest.raises(ValueError, match="must multiply a tuned step size"):
        dataclasses.replace(cfg, contenders=(default,))
    with pytest.raises(ValueError, match="not tasks of the suite"):
        dataclasses.replace(cfg, trace_tasks=("nope",))
    with pytest.raises(ValueError, match="names must be unique"):
        dataclasses.replace(cfg, contenders=(CONTENDERS[0], CONTENDERS[0]))
    sgd_sgd = BY_NAME["SGD / SGD"]
    with pytest.raises(ValueError, match=r"multiply tuned \['SGD'\]; keep them"):
        dataclasses.replace(cfg, contenders=(*CONTENDERS, sgd_sgd))
    with pytest.raises(ConfigError, match="multipliers"):
        load(nts.Config, None, ["multipliers=[0.0, 1.0]"])


def test_the_shipped_config_is_the_embedded_default():
    shipped = load(nts.Config, ROOT / "configs" / "no_tuning_suite.yaml", [])
    assert dataclasses.replace(shipped, data_dir=None) == nts.Config()
