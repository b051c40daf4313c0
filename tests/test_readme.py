"""The README's code blocks run as a reader runs them: top to bottom, in one namespace.

Each Python block is executed in a scratch directory (they write ``runs/mine``); the numbers they
compute are checked against independent expectations. Blocks that are not Python are listed in
``NOT_RUN`` by their first line, with the reason.
"""

import contextlib
import io
import os
import re
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, flags=re.S | re.M)

NOT_RUN = {
    "pip install . && l2l meta-train": (
        "installs l2l and meta-trains for a minute; CI runs the second command, the test suite, "
        "exactly (.ci/run)"
    ),
    "l2l/": "the layout of the repository, not code",
}


def test_every_block_runs_or_says_why_not():
    for language, code in BLOCKS:
        if language != "python":
            first = code.strip().splitlines()[0]
            assert any(first.startswith(key) for key in NOT_RUN), f"README block not run: {first}"
    assert sum(language == "python" for language, _ in BLOCKS) == 4


def test_readme_python_blocks(tmp_path):
    namespace: dict = {"__name__": "__readme__"}
    printed = io.StringIO()
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(printed):
            for language, code in BLOCKS:
                if language == "python":
                    exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    ns = namespace

    # Block 1: clipping to norm 1 then Adam's first step, which is -learning_rate * sign(g) with
    # the schedule's first rate 1e-2: every weight moves from 1 to 0.99.
    np.testing.assert_allclose(ns["params"]["w"], 0.99, rtol=1e-6)

    # Block 2: a short meta-training run; its file holds the best weights and their score.
    run, trained = ns["run"], ns["trained"]
    assert run.steps == 20
    assert trained.info["meta_training"]["meta_step"] == run.best_step
    assert trained.info["validation_mean_summed_loss"] == pytest.approx(run.best_score)
    saved = jax.tree.leaves(trained.meta_params)
    for a, b in zip(saved, jax.tree.leaves(run.best_meta_params), strict=True):
        np.testing.assert_array_equal(a, b)

    # Block 3: the last stack's levels start at the step sizes they were given.
    levels = ns["hyper"].hyperparams(ns["opt"].init(ns["params"]))
    assert float(levels[0]["learning_rate"]) == pytest.approx(0.01)

    # Block 4: 64 held-out curves of 101 losses; the zoo's LSTM at about half tuned Nesterov's
    # summed loss (0.536x on the documented 256 instances).
    assert ns["curves"].shape == (64, 101)
    ratio = ns["comparison"].ratios_to_best_baseline()["quadratic-lstm"]
    assert 0.4 < ratio < 0.7
    assert "| quadratic-lstm | learned |" in printed.getvalue()
