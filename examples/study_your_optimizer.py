# %% [markdown]
# # Put your own optimizer through the studies
#
# Any optax transform goes through l2l's studies: its response to synthetic gradient signals
# (spikes, rectangles, noisy sines, ...) and a race on 2-D test surfaces against the classics.
# Here the transform is one this file defines: sign-SGD with momentum (signum, Bernstein et al.,
# 2018), theta <- theta - lr * sign(m_t), m_t = beta m_{t-1} + (1 - beta) g_t.
#
#     python examples/study_your_optimizer.py

# %%
import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import l2l
from l2l import plots, tasks
from l2l.experiments import responses, surfaces

OUT = Path(os.environ.get("L2L_EXAMPLE_OUT", "examples_out"))
OUT.mkdir(exist_ok=True)


class SignumState(NamedTuple):
    momentum: optax.Updates


def signum(learning_rate: float = 0.1, beta: float = 0.9) -> optax.GradientTransformation:
    def init_fn(params):
        return SignumState(jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        m = jax.tree.map(lambda m, g: beta * m + (1 - beta) * g, state.momentum, updates)
        return jax.tree.map(lambda m: -learning_rate * jnp.sign(m), m), SignumState(m)

    return optax.GradientTransformation(init_fn, update_fn)


# %% [markdown]
# Response curves: the step each optimizer takes (-Δθ_t) when fed a fixed "gradient" signal.
# Sign-SGD's steps have one size whatever the gradient's scale; Adam's are nearly scale-free too,
# but not constant.

# %%
signals = responses.make_signals(steps=120)
transforms = {"signum": signum(0.25), "adam": l2l.adam(0.25), "momentum": l2l.momentum(0.25)}
curves = responses.response_curves(transforms, signals)
for name in ("rectangles", "noisy_sine"):
    steps = np.abs(curves["signum"][name][np.abs(signals[name]) > 1e-6])
    print(f"signum on {name}: step sizes in [{steps.min():.3f}, {steps.max():.3f}]")
path = plots.response_figure(
    signals,
    [{"label": label, "responses": per_signal} for label, per_signal in curves.items()],
    OUT / "study_your_optimizer_responses.png",
    title="sign-SGD with momentum against Adam and momentum",
)
print(f"wrote {path}")

# %% [markdown]
# A race on the classic `hills_and_canyon` surface from (-2.8, -2.5), 125 steps.

# %%
race = surfaces.race(
    {"signum": signum(0.05), "adam": l2l.adam(0.25), "nesterov": l2l.nesterov(0.01, 0.9)},
    "hills_and_canyon",
    start=(-2.8, -2.5),
    steps=125,
)
for label, path_xy in race.items():
    final = float(tasks.surface("hills_and_canyon")(jnp.asarray(path_xy[-1])))
    print(f"{label:9s} ends at ({path_xy[-1][0]:+.2f}, {path_xy[-1][1]:+.2f}), f = {final:.3f}")
figure = plots.race_figure(
    tasks.surface("hills_and_canyon"),
    race,
    OUT / "study_your_optimizer_race.png",
    title="hills_and_canyon",
)
print(f"wrote {figure}")
