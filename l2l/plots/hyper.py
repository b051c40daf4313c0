"""The hyperoptimizer experiments' figures: final loss against the initial step size; the talk's
example (step sizes as dual numbers) step by step; the short-horizon study's step-size traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from l2l.plots.save import save_png


def robustness(robustness: dict, path: str | Path, *, title: str = "") -> Path:
    """Final training loss against the bottom level's initial step size, one curve per height."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
    lrs = np.asarray(robustness["lrs"])
    for curve in robustness["curves"].values():
        loss = np.asarray(curve["final_train_loss"], np.float64)
        loss = np.where(np.isfinite(loss), loss, np.nan)
        spread = curve["spread_decades"]
        label = f"height {curve['height']}"
        if spread is not None:
            label += f" (spread {spread:.2f} decades)"
        if curve["diverged"]:
            label += f", {curve['diverged']} diverged"
        ax.plot(lrs, loss, marker="o", ms=3.5, lw=1.5, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial step size of the bottom level")
    ax.set_ylabel("final training loss (full train split)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)


def dual_number_traces(
    traces: list[dict], path: str | Path, *, a_true: float, title: str = ""
) -> Path:
    """The talk's example: eta, the error, a and kappa against the step, one line per run.

    ``traces`` hold, per run, its ``name`` and per-step lists ``eta``, ``error``, ``a``, ``kappa``
    and ``kappa_change`` (the change of kappa its top level asked for, drawn dashed beside kappa:
    float64 may round the change itself away). Step sizes and errors span decades: |eta|, the error
    and |kappa| are drawn on log scales (a 0 or non-finite value is left out), and so is the step,
    so that the first steps, where eta leaves its tiny start, are seen."""
    fig, axes = plt.subplots(2, 2, figsize=(10.0, 7.0), dpi=100, sharex=True)
    (ax_eta, ax_error), (ax_a, ax_kappa) = axes
    for k, trace in enumerate(traces):
        color = f"C{k}"
        steps = np.arange(1, len(trace["a"]) + 1)

        def positive(values: Any) -> np.ndarray:
            values = np.abs(np.asarray(values, np.float64))
            return np.where(np.isfinite(values) & (values > 0), values, np.nan)

        ax_eta.plot(steps, positive(trace["eta"]), color=color, lw=1.5, label=trace["name"])
        ax_error.plot(steps, positive(trace["error"]), color=color, lw=0.6, alpha=0.8)
        ax_a.plot(steps, trace["a"], color=color, lw=1.5)
        ax_kappa.plot(steps, positive(trace["kappa"]), color=color, lw=1.5)
        ax_kappa.plot(steps, positive(trace["kappa_change"]), color=color, lw=1.0, ls="--")
    ax_a.axhline(a_true, color="0.4", lw=0.8, ls=":", label=f"true a = {a_true:g}")
    kappas = [np.asarray(trace["kappa"], np.float64) for trace in traces]
    if all(np.all(kappa == kappas[0][0]) for kappa in kappas):
        ax_kappa.text(
            0.02,
            0.5,
            f"κ = {kappas[0][0]:g} at every step of every run",
            transform=ax_kappa.transAxes,
            fontsize=8,
        )
    ax_eta.set_ylabel("|η|, step size of a")
    ax_error.set_ylabel("error e = (a x − y)² of the step's sample")
    ax_a.set_ylabel("weight a")
    ax_kappa.set_ylabel("|κ| (solid), |change of κ asked| (dashed)")
    for ax in (ax_eta, ax_error, ax_kappa):
        ax.set_yscale("log")
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("step (one sample each)")
    ax_eta.legend(frameon=False, fontsize=8)
    ax_a.legend(frameon=False, fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def short_horizon_traces(problems: list[dict], path: str | Path, *, title: str = "") -> Path:
    """The short-horizon study: per problem (a column), the step size of every run against the
    update (top, log scale) and its loss curve (bottom, log scale).

    ``problems`` hold, as ``l2l.experiments.short_horizon`` writes them: ``name``,
    ``description``, ``trace_steps``, ``best_learning_rate`` (alpha*, drawn as a grey line),
    ``loss_trace_is``, ``greedy`` (None, or Wu et al.'s expected greedy schedule: its
    ``learning_rate_trace`` and ``loss_trace``, drawn dash-dotted) and ``runs``: each with its
    ``method`` (a colour; the tuned fixed step size in black), ``mode``, ``alpha0_multiple`` (a
    line style: the largest solid, then dashed, dotted) and its ``learning_rate_trace`` and
    ``loss_trace``. A non-finite or non-positive value is left out."""
    columns = len(problems)
    fig, axes = plt.subplots(
        2, columns, figsize=(6.0 * columns, 7.5), dpi=100, squeeze=False, sharex="col"
    )
    styles = ["-", "--", ":", "-."]

    def positive(values: Any) -> np.ndarray:
        values = np.asarray(values, np.float64)
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)

    for column, problem in enumerate(problems):
        ax_lr, ax_loss = axes[0, column], axes[1, column]
        steps = np.asarray(problem["trace_steps"])
        learned = [run for run in problem["runs"] if run["mode"] != "fixed"]
        multiples = sorted({run["alpha0_multiple"] for run in learned}, reverse=True)
        methods = list(dict.fromkeys(run["method"] for run in learned))
        colors = {method: f"C{k}" for k, method in enumerate(methods)}
        for run in problem["runs"]:
            fixed = run["mode"] == "fixed"
            color = "black" if fixed else colors[run["method"]]
            style = "-" if fixed else styles[multiples.index(run["alpha0_multiple"]) % 4]
            headline = fixed or run["alpha0_multiple"] == multiples[0]
            label = run["method"] if headline else None
            kw = {"color": color, "ls": style, "lw": 1.6 if headline else 1.0}
            kw["alpha"] = 1.0 if headline else 0.75
            ax_lr.plot(steps, positive(run["learning_rate_trace"]), label=label, **kw)
            ax_loss.plot(steps, positive(run["loss_trace"]), **kw)
        greedy = problem.get("greedy")
        if greedy is not None:
            kw = {"color": "0.45", "ls": "-.", "lw": 1.2}
            ax_lr.plot(
                steps,
                positive(greedy["learning_rate_trace"]),
                label="greedy (Wu et al., expected)",
                **kw,
            )
            ax_loss.plot(steps, positive(greedy["loss_trace"]), **kw)
        best = problem["best_learning_rate"]
        ax_lr.axhline(best, color="0.6", lw=0.8, ls=(0, (1, 2)))
        ax_lr.axhline(best / 10, color="0.8", lw=0.8, ls=(0, (1, 2)))
        ax_lr.text(steps[-1], best, " α*", va="center", fontsize=8, color="0.4")
        ax_lr.text(steps[-1], best / 10, " α*/10", va="center", fontsize=8, color="0.5")
        ax_lr.set_title(f"{problem['name']}: {problem['description']}", fontsize=8)
        ax_lr.set_ylabel("step size α (geometric mean over seeds)")
        ax_loss.set_ylabel(_wrap(problem["loss_trace_is"]))
        ax_loss.set_xlabel("update")
        for ax in (ax_lr, ax_loss):
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
        handles = [
            plt.Line2D([], [], color="0.3", ls=styles[k % 4], label=f"α0 = {m:g} α*")
            for k, m in enumerate(multiples)
        ]
        ax_lr.legend(frameon=False, fontsize=7, loc="lower left")
        ax_loss.legend(handles=handles, frameon=False, fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def _wrap(text: str, width: int = 48) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# The no-tuning figure's training-loss axis ends here (a 10-class net starts near log 10 = 2.3).
LOSS_CAP = 10.0


def no_tuning_robustness(
    results: list[dict],
    path: str | Path,
    *,
    multipliers: list[float],
    reference: dict,
    title: str = "",
) -> Path:
    """The no-tuning study (``l2l no-tuning``) against the initial step-size multiplier m, one
    curve per contender: the final training loss (top, log scale), the test error (middle) and
    the step size of the last update (bottom, log scale); plain optimizers and hyperoptimizer
    stacks on the left, parameter-free optimizers on the right.

    ``results`` are the contenders as ``l2l.experiments.no_tuning`` writes them: ``name``,
    ``family`` (``plain``, ``stack``, ``parameter-free``), ``contender`` (its config: ``mode``,
    ``stack``, ``optimizer``), ``default`` and ``starts`` (per multiplier: ``train_loss``,
    ``test_error`` and ``step_size`` (or None) with ``per_seed`` values). Each curve is the
    median over seeds with the seeds' range shaded (a diverged seed is left out); a start whose
    median diverged, or whose training loss is above ``LOSS_CAP``, is marked on the top edge. A
    contender with no starts (not swept) is a dotted horizontal line at its defaults' median.
    ``reference`` holds tuned Adam's ``train_loss`` and ``test_error`` (grey dashed lines) and the
    tuned step sizes ``step_sizes`` (``{'adam': ..., 'sgd': ...}``, grey dotted lines)."""
    rows = ("train_loss", "test_error", "step_size")
    fig, axes = plt.subplots(3, 2, figsize=(12.5, 13.0), dpi=100, sharex=True, sharey="row")
    m = np.asarray(multipliers, np.float64)
    # One colour per stack (per optimizer on the right); the variants of one differ in style.
    colors: dict[tuple, tuple] = {}
    variants: dict[tuple, int] = {}
    for result in results:
        column = 1 if result["family"] == "parameter-free" else 0
        color: Any
        if result["family"] == "plain":
            style = {"ls": "-", "marker": "s", "lw": 2.2}
            color = "black" if result["rule"] == "adam" else "0.45"
        else:
            what = (column, tuple(result["levels"]) or result["rule"])
            if what not in colors:
                used = sum(1 for c, _ in colors if c == column)
                tab10: Any = cast(ListedColormap, plt.cm.tab10).colors
                colors[what] = tab10[(used + (3 if column else 0)) % 10]
            color = colors[what]
            variant = variants.get(what, 0)
            variants[what] = variant + 1
            if result["family"] == "stack":
                dashed = result["mode"] == "run"
            else:
                dashed = variant % 2 == 1
            style = {"ls": "--" if dashed else "-", "marker": "os^v"[variant % 4]}
        for row, key in enumerate(rows):
            ax = axes[row, column]
            if not result["starts"]:
                if result["default"].get(key) is not None:
                    default = np.asarray(result["default"][key]["per_seed"], np.float64)
                    label = result["name"] if row == 1 else None
                    ax.axhline(np.median(default), color=color, ls=":", lw=1.5, label=label)
                continue
            if any(start.get(key) is None for start in result["starts"]):
                continue
            values = np.asarray([start[key]["per_seed"] for start in result["starts"]], np.float64)
            median = np.median(values, axis=1)
            label = result["name"] if row == 1 else None
            ax.plot(
                m,
                np.where(np.isfinite(median), median, np.nan),
                color=color,
                ms=4,
                label=label,
                **style,
            )
            masked = np.ma.masked_invalid(values)  # The range of the seeds that did not diverge.
            low = masked.min(axis=1).filled(np.nan)
            high = masked.max(axis=1).filled(np.nan)
            ax.fill_between(m, low, high, color=color, alpha=0.08, lw=0)
            lost = ~np.isfinite(median) | ((median > LOSS_CAP) if key == "train_loss" else False)
            if lost.any() and key != "step_size":
                ax.plot(
                    m[lost],
                    np.ones(lost.sum()),
                    ls="none",
                    marker="x",
                    color=color,
                    ms=7,
                    transform=ax.get_xaxis_transform(),
                    clip_on=False,
                )
    steps = reference.get("step_sizes", {})
    for column in range(2):
        top, middle, bottom = axes[:, column]
        top.axhline(reference["train_loss"], color="0.5", ls="--", lw=1.0)
        middle.axhline(reference["test_error"], color="0.5", ls="--", lw=1.0, label="tuned Adam")
        for name, value in steps.items():
            bottom.axhline(value, color="0.5", ls=":", lw=1.0)
            bottom.text(m[0], value, f" tuned {name} α*", va="bottom", fontsize=7, color="0.4")
        top.set_yscale("log")
        low, high = top.get_ylim()
        top.set_ylim(low, min(high, LOSS_CAP))
        bottom.set_yscale("log")
        if steps:  # Four decades below the smallest tuned step size, two above the largest.
            bottom.set_ylim(min(steps.values()) * 1e-4, max(steps.values()) * 1e2)
        for ax in (top, middle, bottom):
            ax.set_xscale("log")
            ax.grid(True, which="major", alpha=0.3)
        bottom.set_xlabel("initial step size = m × reference (tuned α* or the default)")
        handles, labels = middle.get_legend_handles_labels()
        bottom.legend(
            handles,
            labels,
            frameon=False,
            fontsize=7.5,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncol=2,
        )
    axes[0, 0].set_title(
        "plain optimizers and hyperoptimizer stacks (dashed: whole run)", fontsize=9
    )
    axes[0, 1].set_title("parameter-free optimizers (optax.contrib)", fontsize=9)
    axes[0, 0].set_ylabel(
        f"final training loss (whole training split)\n× at the top: diverged or above {LOSS_CAP:g}"
    )
    axes[1, 0].set_ylabel("test error % (official test split)")
    axes[2, 0].set_ylabel("step size of the last update\n(stack: bottom α; Prodigy: lr · d; ...)")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def step_size_traces(
    panels: list[tuple[str, dict[str, tuple[list, list]], dict[str, tuple[list, list]]]],
    *,
    title: str = "",
) -> Any:
    """One panel per task: learned step-size traces (label -> (steps, step sizes)), one per start,
    and reference schedules (label -> (steps, step sizes)) dashed, on a log axis."""
    cols = min(2, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.4 * rows), constrained_layout=True, squeeze=False
    )
    cmap = plt.get_cmap("viridis")
    for ax, (name, traces, references) in zip(axes.flat, panels):
        for i, (label, (steps, sizes)) in enumerate(traces.items()):
            color = cmap(i / max(1, len(traces) - 1))
            ax.plot(steps, sizes, marker=".", ms=3, lw=1.3, color=color, label=label)
        for k, (label, (steps, sizes)) in enumerate(references.items()):
            positive = np.asarray(sizes, np.float64) > 0  # the cosine's zeros off the log axis
            ax.plot(
                np.asarray(steps)[positive],
                np.asarray(sizes, np.float64)[positive],
                color=("black", "crimson")[k % 2],
                ls=("--", ":")[k % 2],
                lw=1.4,
                label=label,
            )
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("step size")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if panels:
        axes.flat[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig
