"""Time per training step of hyperoptimizer stacks, relative to the plain optax optimizer.

The optimizee is the MNIST MLP of Chandra et al. (2022): 784-128 (tanh)-10, minibatches of 256.
Each optimizer runs ``--steps`` steps inside one jitted ``lax.scan`` (minibatch draw, gradient,
update, apply). Every stack is timed right after its plain optax baseline, ``--repeats`` times;
the table gives the fastest time per step of each, the ratio of the fastest times, and the median
of the paired ratios (robust to the drifting load of a shared CPU). All ratios come from one run.

    python scripts/bench_hyper.py [--steps 200] [--repeats 15] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import hyper
from l2l.data import load_mnist
from l2l.tasks import MLPClassifier

SHIPPED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"

# (label, the bottom rule's plain optax baseline, the stack): each timed against its baseline.
BASELINES = {
    "sgd": lambda: optax.sgd(0.01),
    "adam": lambda: optax.adam(1e-3, eps_root=1e-16),
    "adagrad": lambda: optax.adagrad(0.01, initial_accumulator_value=0.0, eps=1e-8),
    "rmsprop": lambda: optax.rmsprop(0.01, decay=0.99, eps=1e-8),
}
STACKS = [
    ("SGD / SGD", "sgd", lambda: hyper.stack(hyper.sgd(0.01), hyper.sgd(0.01))),
    ("SGD / Adam", "sgd", lambda: hyper.stack(hyper.sgd(0.01), hyper.adam(0.01))),
    ("Adam / SGD", "adam", lambda: hyper.stack(hyper.adam(1e-3), hyper.sgd(1e-5))),
    ("Adam / Adam", "adam", lambda: hyper.stack(hyper.adam(1e-3), hyper.adam(1e-3))),
    (
        "Adam / Adam / SGD",
        "adam",
        lambda: hyper.stack(hyper.adam(1e-3), hyper.adam(1e-3), hyper.sgd(1e-5)),
    ),
    ("AdaGrad / AdaGrad", "adagrad", lambda: hyper.stack(hyper.adagrad(0.01), hyper.adagrad(0.01))),
    ("RMSProp / SGD", "rmsprop", lambda: hyper.stack(hyper.rmsprop(0.01, 0.99), hyper.sgd(1e-4))),
]


def training_run(optimizer, task, steps):
    """A jitted function key -> final loss: ``steps`` optimizee steps in one ``lax.scan``."""

    def run(key):
        init_key, data_key = jax.random.split(key)
        params = task.init(init_key)

        def body(carry, step_key):
            params, state = carry
            loss, grads = jax.value_and_grad(task.loss)(params, None, step_key)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        carry = (params, optimizer.init(params))
        _, losses = jax.lax.scan(body, carry, jax.random.split(data_key, steps))
        return losses[-1]

    return jax.jit(run)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--data-dir",
        default=str(SHIPPED_DATA) if SHIPPED_DATA.is_dir() else None,
        help="MNIST directory (default: ../shared/data/mnist from the repo root if present, "
        "else $L2L_DATA_DIR or the cache directory)",
    )
    args = parser.parse_args(argv)

    train = load_mnist(args.data_dir).train
    task = MLPClassifier(
        images=jnp.asarray(train.images),
        labels=jnp.asarray(train.labels),
        hidden_sizes=(128,),
        activation="tanh",
        batch_size=256,
    )
    runs = {
        f"{name} (optax)": training_run(make(), task, args.steps)
        for name, make in BASELINES.items()
    }
    runs.update({label: training_run(make(), task, args.steps) for label, _, make in STACKS})
    key = jax.random.key(0)
    for fn in runs.values():  # Compile, and check that every run trains.
        assert np.isfinite(float(fn(key)))

    def seconds_per_step(label):
        start = time.perf_counter()
        jax.block_until_ready(runs[label](key))
        return (time.perf_counter() - start) / args.steps

    # Each repeat times every stack right after its baseline: a paired ratio, robust to the slow
    # drifts of a shared CPU's load; the fastest repeat of each run gives the ms / step column.
    best = dict.fromkeys(runs, np.inf)
    paired = {label: [] for label, _, _ in STACKS}
    for _ in range(args.repeats):
        for label, base, _ in STACKS:
            base_label = f"{base} (optax)"
            t_base, t_stack = seconds_per_step(base_label), seconds_per_step(label)
            best[base_label] = min(best[base_label], t_base)
            best[label] = min(best[label], t_stack)
            paired[label].append(t_stack / t_base)

    print(
        f"MNIST MLP 784-128-10 (tanh), batch 256; {args.steps} steps per run, {args.repeats} "
        f"repeats; {jax.devices()[0].device_kind}, jax {jax.__version__}"
    )
    print("| optimizer | ms / step (fastest) | ratio of fastest | ratio, median of paired runs |")
    print("|---|---|---|---|")
    for name in BASELINES:
        if np.isfinite(best[f"{name} (optax)"]):
            ms = 1e3 * best[f"{name} (optax)"]
            print(f"| {BASELINES_LABELS[name]} (optax) | {ms:.3f} | 1.00 | 1.00 |")
    for label, base, _ in STACKS:
        ratio = best[label] / best[f"{base} (optax)"]
        median = float(np.median(paired[label]))
        print(
            f"| {label} | {1e3 * best[label]:.3f} | {ratio:.2f}x {BASELINES_LABELS[base]} "
            f"| {median:.2f}x {BASELINES_LABELS[base]} |"
        )


BASELINES_LABELS = {"sgd": "SGD", "adam": "Adam", "adagrad": "AdaGrad", "rmsprop": "RMSProp"}

if __name__ == "__main__":
    main()
