"""The studies' figures: response curves beside their signals, and races over contour plots.

Each function takes the numbers (as the studies compute them) and writes a file (PNG, or a GIF via
matplotlib's Pillow writer; no ffmpeg); it returns the path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation, colors, patheffects, ticker
from matplotlib.axes import Axes

from l2l.plots.save import save_png

#: An axis range (low, high).
Interval = tuple[float, float]

# --------------------------------------------------------------------------- response curves

_LINESTYLES = ("-", "--", ":", "-.")
_SWEEP_CMAPS = ("viridis", "plasma", "cividis", "magma")


def _curve_styles(curves: Sequence[dict]) -> list[dict]:
    """A colour and line style per curve: the last swept key is a shade of one colour map, the
    optimizer picks the map, and the other swept keys pick the line style."""
    groups = []
    for c in curves:
        group = tuple(c.get("group", (0,)))
        if group not in groups:
            groups.append(group)
    tab = plt.get_cmap("tab10")
    styles = []
    for i, c in enumerate(curves):
        group = tuple(c.get("group", (0,)))
        shade, shades = c.get("shade", (0, 1))
        if shades > 1:
            cmap = plt.get_cmap(_SWEEP_CMAPS[group[0] % len(_SWEEP_CMAPS)])
            color = cmap(0.12 + 0.73 * shade / (shades - 1))
        else:
            color = tab(group[0] % 10 if len(groups) > 1 or len(curves) == 1 else i % 10)
        styles.append({"color": color, "ls": _LINESTYLES[groups.index(group) % len(_LINESTYLES)]})
    return styles


def _symlog_threshold(curves: Sequence[dict], ratio: float) -> float | None:
    """A linear-region width for a symlog axis when the curves' peaks span more than ``ratio``."""
    peaks = []
    for c in curves:
        values = np.concatenate([np.asarray(r, np.float64) for r in c["responses"].values()])
        values = np.abs(values)
        values = values[np.isfinite(values)]
        if values.size and values.max() > 0:
            peaks.append(values.max())
    if len(peaks) < 2 or max(peaks) / min(peaks) <= ratio:
        return None
    return 10.0 ** math.floor(math.log10(min(peaks) / 3))


def response_figure(
    signals: Mapping[str, np.ndarray],
    curves: Sequence[dict],
    path: str | Path,
    *,
    title: str = "",
    titles: Mapping[str, str] | None = None,
    yscale: str = "auto",
    symlog_ratio: float = 30.0,
    ncols: int = 3,
) -> Path:
    """A grid with one cell per signal: the signal g_t on top, the responses -Δθ_t below.

    ``curves`` is a list of dicts with ``label`` and ``responses`` (signal name -> array), and
    optionally ``group``/``shade`` (see ``responses.figure_curves``) for the colours. ``yscale``
    is ``linear``, ``symlog`` or ``auto`` (symlog when the curves' peaks span > ``symlog_ratio``).
    """
    names = list(signals)
    titles = titles or {}
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    threshold = None
    if yscale in ("auto", "symlog"):
        threshold = _symlog_threshold(curves, 1.0 if yscale == "symlog" else symlog_ratio)
        if yscale == "symlog" and threshold is None:
            threshold = 1e-2
    styles = _curve_styles(curves)
    lw = 1.3 if len(curves) <= 4 else 1.0

    height = 3.6 * nrows + 0.9
    fig = plt.figure(figsize=(4.6 * ncols, height), dpi=100)
    outer = fig.add_gridspec(
        nrows,
        ncols,
        hspace=0.32,
        wspace=0.22,
        top=1 - 0.95 / height,
        bottom=0.55 / height,
        left=0.06,
        right=0.99,
    )
    for i, name in enumerate(names):
        row, col = divmod(i, ncols)
        cell = outer[row, col].subgridspec(2, 1, height_ratios=[1, 3], hspace=0.08)
        ax_s = fig.add_subplot(cell[0])
        ax_r = fig.add_subplot(cell[1], sharex=ax_s)
        signal = np.asarray(signals[name])
        steps = np.arange(signal.size)
        ax_s.plot(steps, signal, color="black", lw=0.9)
        ax_s.fill_between(steps, signal, 0, color="0.6", alpha=0.35, lw=0)
        ax_s.set_title(titles.get(name, name), fontsize=9.5, loc="left")
        ax_s.tick_params(labelbottom=False, labelsize=8)
        ax_s.grid(alpha=0.3)
        ax_r.axhline(0, color="0.5", lw=0.6)
        for c, style in zip(curves, styles):
            ax_r.plot(steps, np.asarray(c["responses"][name]), lw=lw, label=c["label"], **style)
        if threshold is not None:
            ax_r.set_yscale("symlog", linthresh=threshold)
        ax_r.grid(alpha=0.3)
        ax_r.tick_params(labelsize=8)
        ax_r.set_xlim(0, signal.size - 1)
        if col == 0:
            ax_s.set_ylabel("signal $g_t$", fontsize=9)
            ax_r.set_ylabel(
                "response $-\\Delta\\theta_t$" + (" (symlog)" if threshold else ""), fontsize=9
            )
        if row == nrows - 1 or i + ncols >= len(names):
            ax_r.set_xlabel("step $t$", fontsize=9)
    handles, labels = fig.axes[1].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(len(labels), 6),
        frameon=False,
        bbox_to_anchor=(0.5, 1 - 0.42 / height),
        fontsize=10,
        handlelength=2.6,
    )
    if title:
        fig.suptitle(f"{title}: response to a gradient signal", y=0.995, fontsize=12)
    return save_png(fig, path)


# --------------------------------------------------------------------------- races

# Set1, which reads on the grey contour background.
RACE_COLORS = (
    "#e41a1c",
    "#377eb8",
    "#4daf4a",
    "#984ea3",
    "#ff7f00",
    "#f781bf",
    "#a65628",
    "#17becf",
)
_GRID = 240
# The upper 70% of grey: low f dark grey, high f white, so coloured paths read everywhere.
_SURFACE_CMAP = colors.LinearSegmentedColormap.from_list(
    "race_greys", plt.get_cmap("Greys_r")(np.linspace(0.3, 1.0, 256))
)


def _surface_grid(
    f: Callable, xlim: Interval, ylim: Interval, n: int = _GRID
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    X, Y = np.meshgrid(xs, ys)
    points = jnp.asarray(np.stack([X.ravel(), Y.ravel()], axis=1), jnp.float32)
    Z = np.asarray(jax.jit(jax.vmap(f))(points), np.float64).reshape(X.shape)
    return X, Y, Z


def _draw_surface(
    ax: Axes,
    f: Callable,
    xlim: Interval,
    ylim: Interval,
    *,
    colorbar: bool = True,
    levels: int = 24,
) -> Any:
    """Filled contours of f (log-spaced when f spans decades above its minimum)."""
    X, Y, Z = _surface_grid(f, xlim, ylim)
    low = np.nanmin(Z)
    above = Z - low
    p5, p95 = np.nanpercentile(above, [5, 95])
    if p5 > 0 and p95 / p5 > 100:  # e.g. rosenbrock: contours of f - min f on a log scale
        delta = max(p5 / 100, 1e-12)
        shown = above + delta
        bounds = np.geomspace(delta, np.nanmax(shown), levels)
        norm = colors.LogNorm(bounds[0], bounds[-1])
        label = "f − min f (log scale)"
    else:
        shown = Z
        bounds = np.linspace(low, np.nanmax(Z), levels)
        norm = None
        label = "f(x, y)"
    filled = ax.contourf(X, Y, shown, levels=bounds, cmap=_SURFACE_CMAP, norm=norm)
    ax.contour(X, Y, shown, levels=bounds, colors="k", linewidths=0.3, alpha=0.35, norm=norm)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    if colorbar:
        bar = ax.figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.03)
        if norm is None:
            ticks = np.asarray(ticker.MaxNLocator(6).tick_values(bounds[0], bounds[-1]))
        else:
            ticks = 10.0 ** np.arange(math.ceil(np.log10(bounds[0])), np.log10(bounds[-1]) + 1)
            bar.formatter = ticker.LogFormatterSciNotation()
            bar.minorticks_off()
        bar.set_ticks(ticks[(ticks >= bounds[0]) & (ticks <= bounds[-1])])
        bar.set_label(label, fontsize=9)
        bar.ax.tick_params(labelsize=8)
    return filled


_OUTLINE = [patheffects.Stroke(linewidth=3.2, foreground="white", alpha=0.8), patheffects.Normal()]


def _final_value(f: Callable, path: np.ndarray) -> float:
    point = path[-1]
    if not np.all(np.isfinite(point)):
        return float("nan")
    return float(f(jnp.asarray(point, jnp.float32)))


def _legend_label(label: str, f: Callable, path: np.ndarray) -> str:
    value = _final_value(f, path)
    return f"{label}: diverged" if not np.isfinite(value) else f"{label}: final f = {value:.3g}"


def _draw_start(ax: Axes, start: Any) -> None:
    ax.plot(
        *start,
        marker="*",
        ms=14,
        color="white",
        mec="black",
        mew=0.8,
        zorder=5,
        ls="none",
        label="start",
    )


def race_figure(
    f: Callable,
    trajectories: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    title: str = "",
    xlim: Interval = (-3.0, 3.0),
    ylim: Interval = (-3.0, 3.0),
) -> Path:
    """The surface's contours with every optimizer's path (steps + 1, 2); legend: final f."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    _draw_surface(ax, f, xlim, ylim)
    for i, (label, traj) in enumerate(trajectories.items()):
        traj = np.asarray(traj)
        color = RACE_COLORS[i % len(RACE_COLORS)]
        ax.plot(
            traj[:, 0],
            traj[:, 1],
            color=color,
            lw=1.7,
            path_effects=_OUTLINE,
            label=_legend_label(label, f, traj),
            zorder=3,
        )
        ax.plot(traj[:, 0], traj[:, 1], ls="none", marker=".", ms=2.5, color=color, zorder=3)
        ax.plot(*traj[-1], marker="o", ms=7, color=color, mec="black", mew=0.8, zorder=4)
    _draw_start(ax, np.asarray(next(iter(trajectories.values())))[0])
    steps = len(next(iter(trajectories.values()))) - 1
    ax.set_title(f"{title}: {steps} steps" if title else f"{steps} steps", fontsize=11)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.tight_layout()
    return save_png(fig, path)


def race_animation(
    f: Callable,
    trajectories: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    title: str = "",
    xlim: Interval = (-3.0, 3.0),
    ylim: Interval = (-3.0, 3.0),
    fps: int = 20,
    frame_every: int = 1,
    dpi: int = 70,
) -> Path:
    """An animated GIF of the race: each path grows step by step (matplotlib's Pillow writer).

    The still part (contours, axes, legend, start) is drawn once and shown as an image behind a
    transparent axes that holds only the moving paths, so each frame redraws a few lines.
    """
    trajs = [np.asarray(t) for t in trajectories.values()]
    steps = len(trajs[0]) - 1
    title_text = f"{title}: step {{}}" if title else "step {}"

    # The still picture, with the legend's lines (empty) and room for the longest title.
    still, ax = plt.subplots(figsize=(5.0, 5.0), dpi=dpi)
    _draw_surface(ax, f, xlim, ylim, colorbar=False, levels=16)
    for i, label in enumerate(trajectories):
        ax.plot([], [], color=RACE_COLORS[i % len(RACE_COLORS)], lw=1.8, label=label)
    _draw_start(ax, trajs[0][0])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="lower right", framealpha=0.85)
    placeholder = ax.set_title(title_text.format(steps), fontsize=11)
    still.tight_layout()
    still.canvas.draw()
    box = ax.get_position()  # After tight_layout and the equal aspect.
    title_at = still.transFigure.inverted().transform(placeholder.get_window_extent().p0)
    placeholder.set_visible(False)
    still.canvas.draw()
    # An Agg canvas (l2l.plots chooses the backend), which the stubs' base class does not know.
    background = np.asarray(still.canvas.buffer_rgba()).copy()  # type: ignore[attr-defined]
    plt.close(still)

    fig = plt.figure(figsize=(5.0, 5.0), dpi=dpi)
    back = fig.add_axes((0, 0, 1, 1))
    back.imshow(background, interpolation="nearest", aspect="auto")
    back.set_axis_off()
    overlay = fig.add_axes(box.bounds, xlim=xlim, ylim=ylim)
    overlay.set_axis_off()
    overlay.patch.set_visible(False)
    lines, heads = [], []
    for i in range(len(trajs)):
        color = RACE_COLORS[i % len(RACE_COLORS)]
        (line,) = overlay.plot([], [], color=color, lw=1.8, path_effects=_OUTLINE)
        (head,) = overlay.plot([], [], marker="o", ms=7, color=color, mec="black", mew=0.8)
        lines.append(line)
        heads.append(head)
    text = fig.text(title_at[0], title_at[1], "", fontsize=11, ha="left", va="bottom")
    frames = list(range(0, steps + 1, frame_every))
    if frames[-1] != steps:
        frames.append(steps)
    frames += [steps] * max(fps // 2, 1)  # Hold the finish for half a second.

    def draw(t: int) -> list[Any]:
        for line, head, traj in zip(lines, heads, trajs):
            line.set_data(traj[: t + 1, 0], traj[: t + 1, 1])
            head.set_data([traj[t, 0]], [traj[t, 1]])
        text.set_text(title_text.format(t))
        return [*lines, *heads, text]

    movie = animation.FuncAnimation(fig, draw, frames=frames, blit=False)
    path = Path(path)
    movie.save(path, writer=animation.PillowWriter(fps=fps), dpi=dpi)
    plt.close(fig)
    return path


def race_overview(
    surfaces: Mapping[str, Callable],
    races: Mapping[str, Mapping[str, np.ndarray]],
    path: str | Path,
    *,
    xlim: Interval = (-3.0, 3.0),
    ylim: Interval = (-3.0, 3.0),
    ncols: int = 4,
) -> Path:
    """Every race in one grid (one panel per surface), one legend for all."""
    names = list(races)
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 3.3 * nrows + 0.5), dpi=100, squeeze=False
    )
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names):
        _draw_surface(ax, surfaces[name], xlim, ylim, colorbar=False, levels=18)
        for i, (label, traj) in enumerate(races[name].items()):
            traj = np.asarray(traj)
            color = RACE_COLORS[i % len(RACE_COLORS)]
            ax.plot(traj[:, 0], traj[:, 1], color=color, lw=1.3, path_effects=_OUTLINE, label=label)
            ax.plot(*traj[-1], marker="o", ms=5, color=color, mec="black", mew=0.6)
        _draw_start(ax, np.asarray(next(iter(races[name].values())))[0])
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x", fontsize=8, labelpad=1)
        ax.set_ylabel("y", fontsize=8, labelpad=1)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_png(fig, path)
