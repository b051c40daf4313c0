"""Every example in examples/ runs end to end (reduced by L2L_EXAMPLE_SMALL=1), uses only the public
API, and prints a number that an independent expectation checks."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FASHION = ROOT.parent / "shared" / "data" / "fashion-mnist"


def run_example(name: str, tmp_path) -> str:
    env = dict(os.environ, L2L_EXAMPLE_SMALL="1", L2L_EXAMPLE_OUT=str(tmp_path))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_import_only_the_public_api(path):
    """No private module (a name starting with an underscore) anywhere in an l2l import."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "l2l":
                assert not any(p.startswith("_") for p in parts), f"{path.name} imports {name}"


def test_examples_are_notebook_cells():
    for path in EXAMPLES:
        assert path.read_text().count("# %%") >= 2, f"{path.name} has no '# %%' cells"


def test_zero_machine_example_reaches_zero(tmp_path):
    out = run_example("zero_machine", tmp_path)
    losses = [float(v) for v in re.findall(r"f = (\S+)", out)]
    assert len(losses) == 21
    assert losses[0] == pytest.approx((0.7 * 0.5) ** 2 + (1.3 * 0.8) ** 2, rel=1e-3)  # %.3e
    assert losses[-1] <= 1.1754943508222875e-38  # float32's smallest normal number


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"Fashion-MNIST not found at {FASHION}")
def test_flax_model_example_trains_and_learns_its_step_size(tmp_path):
    out = run_example("train_your_flax_model", tmp_path)
    learned = [float(v) for v in re.findall(r"learned learning_rate = (\S+)", out)]
    # The hyperoptimizer moves Adam's step size away from its start (the paper's Adam/SGD(1e-5)
    # raises it several-fold), and every run learns: test accuracy well above chance (0.1).
    assert learned and learned[-1] > 2e-3
    accuracies = [float(v) for v in re.findall(r"test accuracy (\S+)", out)]
    assert len(accuracies) == 3 and min(accuracies) > 0.5
    assert (tmp_path / "train_your_flax_model.png").stat().st_size > 5_000


def test_meta_train_example_beats_its_untrained_self(tmp_path):
    out = run_example("meta_train_your_task", tmp_path)
    untrained = float(re.search(r"^untrained LSTM: +mean summed loss (\S+)", out, re.M).group(1))
    trained = float(re.search(r"^trained LSTM: +mean summed loss (\S+)", out, re.M).group(1))
    assert trained < 0.9 * untrained
    assert "| adam | learning_rate=" in out and "logistic_regression" in out


def test_study_example_shows_sign_sgd_steps_of_one_size(tmp_path):
    out = run_example("study_your_optimizer", tmp_path)
    # sign(m) * lr: every nonzero step of sign-SGD has exactly the learning rate's size, 0.25.
    for low, high in re.findall(r"step sizes in \[(\S+), (\S+)\]", out):
        assert float(low) == float(high) == 0.25
    final = {m[0]: float(m[1]) for m in re.findall(r"(\w+) +ends at .*f = (\S+)", out)}
    assert final["adam"] < 0.5 < 6.0 < final["nesterov"]  # the README's race: only Adam crosses
