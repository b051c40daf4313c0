"""Time per training step and memory of hyperoptimizer stacks, relative to plain optax.

The optimizee is the MNIST MLP of Chandra et al. (2022): 784-128 (tanh)-10, minibatches of 256.
Each optimizer runs ``--steps`` steps inside one jitted ``lax.scan`` (minibatch draw, gradient,
update, apply). Every stack is timed right after its plain optax baseline, ``--repeats`` times;
the table gives the fastest time per step of each, the ratio of the fastest times, and the median
of the paired ratios (robust to the drifting load of a shared CPU). All ratios come from one run.
Stacks run in each hypergradient mode: ``forward`` (one-step, the default), ``reverse``
(one-step) and ``run`` (whole-run forward mode, mu = 0.99; ``run, hvp_fn``: the training step
hands the stack the Hessian-vector products of ``jax.linearize`` instead of ``grad_fn``). Rows
include the paper's setup (Adam learning its step size and betas, raw, under SGD(1e-5)) and
optax's AdamW learning its step size and weight decay (``hyper.level(optax.adamw, ...)``), each
against its plain optax rule; the cost floors of issue #24 are printed, met or missed. Memory:
the optimizer state's size in units of the parameters' size, and the compiled training run's
temporary buffers (XLA's ``memory_analysis``).

    python scripts/bench_hyper.py [--steps 200] [--repeats 15] [--data-dir DIR] [--only TEXT]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import json
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

# The plain optax optimizer each stack is timed against, by the stack's bottom rule.
BASELINES = {
    "sgd": lambda: optax.sgd(0.01),
    "adam": lambda: optax.adam(1e-3, eps_root=1e-16),
    "adamw": lambda: optax.adamw(1e-3, weight_decay=1e-4, eps_root=1e-16),
}
ADAM_ALL = ("learning_rate", "b1", "b2")
ADAMW = ("learning_rate", "weight_decay")
PAPER = "Adam(α, β1, β2, raw) / SGD(1e-5)"  # Chandra et al.'s setup.
# The floors (#24): (label, mode) -> the most a step may cost, in plain steps.
HVP = "run, hvp_fn"  # mode 'run' with the training step's Hessian-vector products.
FLOORS = {
    (PAPER, "forward"): 1.2,
    ("Adam / SGD", "run"): 2.0,
    ("Adam / SGD", HVP): 2.0,
    ("AdamW(α, λ) / SGD", "forward"): 1.2,
}


def paper_stack(mode, **options):
    """Adam learning its step size and betas, raw (the paper's), SGD(1e-5) on top."""
    return hyper.stack(
        hyper.adam(1e-3, learn=ADAM_ALL, reparam="raw"), hyper.sgd(1e-5), mode=mode, **options
    )


def adamw_stack(mode, **options):
    """optax's AdamW learning its step size and weight decay, SGD on top (the defaults)."""
    bottom = hyper.level(optax.adamw, learning_rate=1e-3, weight_decay=1e-4, learn=ADAMW)
    return hyper.stack(bottom, hyper.sgd(), mode=mode, **options)


def _stacks():
    """(label, the bottom rule's baseline, mode, the stack): each timed against its baseline."""
    rows = []
    for mode in ("forward", "reverse"):
        rows += [
            (
                "SGD / SGD",
                "sgd",
                mode,
                lambda m=mode: hyper.stack(hyper.sgd(0.01), hyper.sgd(), mode=m),
            ),
            (
                "Adam / SGD",
                "adam",
                mode,
                lambda m=mode: hyper.stack(hyper.adam(1e-3), hyper.sgd(), mode=m),
            ),
            (
                "Adam / Adam / SGD",
                "adam",
                mode,
                lambda m=mode: hyper.stack(hyper.adam(1e-3), hyper.adam(), hyper.sgd(), mode=m),
            ),
            (
                "Adam(α, β1, β2) / SGD",
                "adam",
                mode,
                lambda m=mode: hyper.stack(hyper.adam(1e-3, learn=ADAM_ALL), hyper.sgd(), mode=m),
            ),
            (
                "Adam(α, β1, β2) / Adam / SGD",
                "adam",
                mode,
                lambda m=mode: hyper.stack(
                    hyper.adam(1e-3, learn=ADAM_ALL), hyper.adam(), hyper.sgd(), mode=m
                ),
            ),
            (PAPER, "adam", mode, lambda m=mode: paper_stack(m)),
            ("AdamW(α, λ) / SGD", "adamw", mode, lambda m=mode: adamw_stack(m)),
        ]
    rows += [
        (
            "SGD / SGD",
            "sgd",
            "run",
            lambda: hyper.stack(hyper.sgd(0.01), hyper.sgd(), mode="run", discount=0.99),
        ),
        (
            "Adam / SGD",
            "adam",
            "run",
            lambda: hyper.stack(hyper.adam(1e-3), hyper.sgd(), mode="run", discount=0.99),
        ),
        ("AdamW(α, λ) / SGD", "adamw", "run", lambda: adamw_stack("run", discount=0.99)),
    ]
    # The same whole-run stacks given the loss's Hessian-vector products by the training step
    # (``hvp_fn``, from ``jax.linearize`` of the gradient it computes anyway): no second gradient.
    rows += [(label, base, HVP, make) for label, base, mode, make in rows if mode == "run"]
    return rows


STACKS = _stacks()


def training_run(optimizer, task, steps, linearized=False):
    """A jitted function key -> final loss: ``steps`` optimizee steps in one ``lax.scan``;
    ``linearized``: the gradient by ``jax.linearize``, its Hessian-vector products handed to the
    update as ``hvp_fn``."""

    def run(key):
        init_key, data_key = jax.random.split(key)
        params = task.init(init_key)

        def body(carry, step_key):
            params, state = carry
            grad_fn = jax.grad(lambda p: task.loss(p, None, step_key))
            extra = {"grad_fn": grad_fn}
            if linearized:
                value_and_grad = jax.value_and_grad(lambda p: task.loss(p, None, step_key))
                (loss, grads), tangent_fn = jax.linearize(value_and_grad, params)
                extra["hvp_fn"] = lambda tangent: tangent_fn(tangent)[1]
            else:
                loss, grads = jax.value_and_grad(task.loss)(params, None, step_key)
            updates, state = optimizer.update(grads, state, params, **extra)
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
        "--only",
        default="",
        help="time only the stacks whose label contains this text (or one of several, split by |)",
    )
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
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
    wanted = args.only.split("|")
    stacks = [row for row in STACKS if any(text in row[0] for text in wanted)]
    bases = {base for _, base, _, _ in stacks}
    makers = {f"{name} (optax)": make for name, make in BASELINES.items() if name in bases}
    makers.update({(label, mode): make for label, _, mode, make in stacks})
    runs = {
        name: training_run(make(), task, args.steps, linearized=HVP in name)
        for name, make in makers.items()
    }
    key = jax.random.key(0)
    params = task.init(key)
    param_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
    state_size, temp_mib = {}, {}
    for name, fn in runs.items():  # Compile, check that every run trains, measure memory.
        assert np.isfinite(float(fn(key))), name
        state = makers[name]().init(params)
        state_size[name] = sum(x.nbytes for x in jax.tree.leaves(state)) / param_bytes
        analysis = fn.lower(key).compile().memory_analysis()
        temp_mib[name] = analysis.temp_size_in_bytes / 2**20 if analysis is not None else np.nan

    def seconds_per_step(name):
        start = time.perf_counter()
        jax.block_until_ready(runs[name](key))
        return (time.perf_counter() - start) / args.steps

    # Each repeat times every stack right after its baseline: a paired ratio, robust to the slow
    # drifts of a shared CPU's load; the fastest repeat of each run gives the ms / step column.
    best = dict.fromkeys(runs, np.inf)
    paired = {(label, mode): [] for label, _, mode, _ in stacks}
    for _ in range(args.repeats):
        for label, base, mode, _ in stacks:
            base_name = f"{base} (optax)"
            t_base, t_stack = seconds_per_step(base_name), seconds_per_step((label, mode))
            best[base_name] = min(best[base_name], t_base)
            best[(label, mode)] = min(best[(label, mode)], t_stack)
            paired[(label, mode)].append(t_stack / t_base)

    print(
        f"MNIST MLP 784-128-10 (tanh), batch 256; {args.steps} steps per run, {args.repeats} "
        f"repeats; {jax.devices()[0].device_kind}, jax {jax.__version__}"
    )
    print(
        "| optimizer | mode | ms / step (fastest) | ratio of fastest | ratio, median of paired "
        "runs | state / params | XLA temp MiB |"
    )
    print("|---|---|---|---|---|---|---|")

    def _row(label, mode, name, base, ratio, median):
        return {
            "optimizer": label,
            "mode": mode,
            "baseline": base,
            "ms_per_step": 1e3 * best[name],
            "ratio_of_fastest": ratio,
            "ratio_median_paired": median,
            "floor": FLOORS.get((label, mode)),
            "state_over_params": state_size[name],
            "xla_temp_mib": temp_mib[name],
        }

    rows = []
    for name in BASELINES:
        base_name = f"{name} (optax)"
        if base_name in best and np.isfinite(best[base_name]):
            print(
                f"| {BASELINES_LABELS[name]} (optax) | — | {1e3 * best[base_name]:.3f} | 1.00 | "
                f"1.00 | {state_size[base_name]:.2f} | {temp_mib[base_name]:.1f} |"
            )
            rows.append(_row(BASELINES_LABELS[name] + " (optax)", "", base_name, name, 1.0, 1.0))
    for label, base, mode, _ in stacks:
        name, base_label = (label, mode), BASELINES_LABELS[base]
        ratio = best[name] / best[f"{base} (optax)"]
        median = float(np.median(paired[name]))
        print(
            f"| {label} | {mode} | {1e3 * best[name]:.3f} | {ratio:.2f}x {base_label} "
            f"| {median:.2f}x {base_label} | {state_size[name]:.2f} | {temp_mib[name]:.1f} |"
        )
        rows.append(_row(label, mode, name, base, ratio, median))
    floors = [(key, limit) for key, limit in FLOORS.items() if key in paired]
    if floors:
        print("\nThe floors of issue #24 (median of paired runs; met or missed in this run):")
    for (label, mode), limit in floors:
        median = float(np.median(paired[(label, mode)]))
        verdict = "met" if median <= limit else "MISSED"
        print(f"- {label}, {mode}: {median:.2f}x, floor {limit:.1f}x: {verdict}")
    if args.json:
        device = f"{jax.devices()[0].device_kind}, jax {jax.__version__}"
        setup = {"steps": args.steps, "repeats": args.repeats, "device": device}
        Path(args.json).write_text(json.dumps({"setup": setup, "rows": rows}, indent=1) + "\n")


BASELINES_LABELS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "adagrad": "AdaGrad",
    "rmsprop": "RMSProp",
}

if __name__ == "__main__":
    main()
