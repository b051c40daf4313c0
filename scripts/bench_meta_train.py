"""Meta-training throughput and memory, before and after the fast paths, measured in one run:
meta-steps and optimizee steps per second (every task of the batch counted), the meta-step's FLOPs
and achieved GFLOP/s against this machine's own float32 matmul GFLOP/s (measured in the same
process, so the utilization is a ratio of two numbers taken together), compile time, and memory.

    python scripts/bench_meta_train.py [CONFIG.yaml] [key=value ...] [--steps N] [--rounds R]
    python scripts/bench_meta_train.py --table [--out docs/results/throughput.json]
    python scripts/bench_meta_train.py --show docs/results/throughput.json   # the table again
    python scripts/bench_meta_train.py --sweep devices   # 1, 2, 4 forced CPU devices
    python scripts/bench_meta_train.py --sweep memory    # truncation x horizon x estimator

Each measurement compiles the meta-step of a config twice in one process: *before*, the plain
path (``fast_paths=false``: the optimizer ``vmap``-ed over the batch, and every conv task on XLA's
convolution, ``lowering=conv``), and *after*, the config as given (the fast paths: the
architecture's batched update, first-order losses differentiated through their gradients, conv
layers as im2col matmuls); then it times them in alternating rounds, so the ratio of the two is
taken under the same load. ``--table`` runs every row of :data:`ROWS` (architectures x tasks) in a
child process of its own and writes the results as JSON; ``--show`` prints the markdown table of
docs/throughput.md from such a file.

FLOPs: XLA's cost analysis counts the body of a loop once, whatever its trip count, so the count
comes from two more compiles of the same meta-step with the unroll's scan fully unrolled, at
truncations 1 and 2: FLOPs(T) = F(1) + (T - 1) (F(2) - F(1)), exact for a step whose work is
linear in T (summed over the devices of a sharded step). With the scan unrolled, XLA merges the
recomputation of ``remat`` with the forward pass, so the count is the arithmetic of the meta-step
itself, not what recomputation adds; each path is credited with its own count (the fast path does
less arithmetic for the same result). Memory: the compiled step's own buffers (XLA
memory_analysis: arguments + outputs + temporaries - donated) and the process's peak RSS (which
also holds the compiler's memory, for both paths). This script calls the library only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEVICE_COUNTS = (1, 2, 4)
MEMORY_POINTS = (  # (estimator, remat, truncation, horizon)
    ("tbptt", False, 20, 100),
    ("tbptt", False, 20, 1000),
    ("tbptt", False, 100, 1000),
    ("tbptt", True, 20, 100),
    ("tbptt", True, 20, 1000),
    ("tbptt", True, 100, 1000),
    ("pes", False, 20, 100),
    ("pes", False, 20, 1000),
    ("pes", False, 100, 1000),
)
FASHION = "../shared/data/fashion-mnist"
#: The table of docs/throughput.md: (row, config, overrides), architectures x tasks.
ROWS = (
    ("LSTM, quadratics", "configs/quadratic_lstm.yaml", ()),
    ("MLP, quadratics", "configs/quadratic_mlp_lopt.yaml", ()),
    ("LSTM, MNIST MLP", "configs/mnist_lstm.yaml", ()),
    ("MLP, MNIST MLP", "configs/mnist_mlp_lopt.yaml", ()),
    (
        "MLP, 8x8 Fashion-MNIST MLP, 8 tasks",
        "configs/mnist_mlp_lopt.yaml",
        (
            "task.dataset=fashion-mnist",
            f"task.data_dir={FASHION}",
            "task.image_size=8",
            "task.hidden_sizes=[32]",
            "task.activation=relu",
            "batch_size=8",
        ),
    ),
    (
        "MLP, Fashion-MNIST conv net",
        "configs/fashion_mix_mlp_lopt.yaml",
        (f"task={{kind: conv, batch_size: 16, dataset: fashion-mnist, data_dir: {FASHION}}}",),
    ),
    ("MLP, Fashion-MNIST mix", "configs/fashion_mix_mlp_lopt.yaml", ()),
)


def load(path: str, overrides) -> object:
    """The :class:`l2l.meta.MetaTrainConfig` part of an experiment's config file (the keys of the
    closing comparison, e.g. ``baselines``, are left out), with ``key=value`` overrides."""
    import yaml

    from l2l import config as config_lib
    from l2l.meta import MetaTrainConfig

    data = yaml.safe_load(Path(path).read_text()) or {}
    own = {f.name for f in dataclasses.fields(MetaTrainConfig)}
    data = {k: v for k, v in data.items() if k in own}
    data = config_lib.apply_overrides(data, list(overrides), source=path)
    return config_lib.from_dict(MetaTrainConfig, data, source=path)


def _cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def plain(cfg):
    """``cfg`` on the plain path: no fast paths, every conv task on XLA's convolution."""
    from l2l.tasks import ConvConfig, MixConfig

    def task(t):
        if isinstance(t, ConvConfig):
            return dataclasses.replace(t, lowering="conv")
        if isinstance(t, MixConfig):
            return dataclasses.replace(t, members=tuple(task(m) for m in t.members))
        return t

    return dataclasses.replace(cfg, fast_paths=False, task=task(cfg.task))


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """The best float32 (n x n) @ (n x n) rate of this machine's default device, in GFLOP/s."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(4):
            out = f(a, b)
        out.block_until_ready()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def step_flops(cfg, task) -> float:
    """FLOPs of one meta-step at ``cfg.truncation``, from the compiled cost analysis (see above)."""
    from l2l import meta

    counts = []
    for truncation in (1, 2):
        small = dataclasses.replace(cfg, truncation=truncation, horizon=truncation)
        tr = meta.make_trainer(small, task, scan_unroll=True)
        compiled = tr.step.lower(tr.init()).compile()
        # The analysis is of the program each device runs: one part of the batch each.
        counts.append(_cost(compiled)["flops"] * tr.mesh.size)
    return counts[0] + (cfg.truncation - 1) * (counts[1] - counts[0])


def _cost(compiled) -> dict:
    cost = compiled.cost_analysis()
    return cost[0] if isinstance(cost, (list, tuple)) else cost


def _compile(cfg):
    from l2l import meta

    task = cfg.task.build()
    trainer = meta.make_trainer(cfg, task)
    state = trainer.init()
    start = time.perf_counter()
    compiled = trainer.step.lower(state).compile()
    seconds = time.perf_counter() - start
    state, metrics = compiled(state)  # warm-up
    return task, compiled, state, metrics, seconds


def measure(config: str, overrides, steps: int, rounds: int, count_flops: bool, both=True) -> dict:
    """Both paths of one config (``both=False``: the config as given only), measured in this
    process: each compiled, then timed in alternating rounds of ``steps`` meta-steps."""
    import jax

    after_cfg = load(config, overrides)
    cfgs = {"before": plain(after_cfg), "after": after_cfg} if both else {"after": after_cfg}
    paths = {}
    for name, cfg in cfgs.items():
        task, compiled, state, metrics, seconds = _compile(cfg)
        memory = compiled.memory_analysis()
        jax.block_until_ready(metrics)
        paths[name] = {"cfg": cfg, "task": task, "compiled": compiled, "state": state}
        paths[name]["result"] = {
            "compile_seconds": seconds,
            "meta_loss": float(metrics["meta_loss"]),
        }
        if memory is not None:
            paths[name]["result"]["xla_step_memory_mib"] = (
                memory.temp_size_in_bytes
                + memory.argument_size_in_bytes
                + memory.output_size_in_bytes
                - memory.alias_size_in_bytes
            ) / 2**20
            paths[name]["result"]["xla_temp_mib"] = memory.temp_size_in_bytes / 2**20

    matmul_before = matmul_gflops()
    times = {name: [] for name in paths}
    dispatch = {name: [] for name in paths}
    for _ in range(rounds):
        for name, p in paths.items():
            state = p["state"]
            start = time.perf_counter()
            for _ in range(steps):
                call = time.perf_counter()
                state, metrics = p["compiled"](state)
                dispatch[name].append(time.perf_counter() - call)
            jax.block_until_ready(metrics)
            times[name].append((time.perf_counter() - start) / steps)
            p["state"] = state
    matmul = max(matmul_before, matmul_gflops())

    cfg = after_cfg
    result = {
        "device": f"{jax.devices()[0].platform} x{jax.device_count()}",
        "machine": f"{_cpu_name()}, {os.cpu_count()} cores ({platform.machine()})",
        "config": f"{config} {' '.join(overrides)}".strip(),
        "estimator": cfg.estimator,
        "batch": cfg.batch_size,
        "truncation": cfg.truncation,
        "horizon": cfg.horizon,
        "remat": cfg.remat,
        "meta_steps_timed": steps * rounds,
        "matmul_gflops": matmul,
        "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    for name, p in paths.items():
        r = p["result"]
        seconds = statistics.median(times[name])
        r["seconds_per_meta_step"] = seconds
        r["meta_steps_per_second"] = 1 / seconds
        r["optimizee_steps_per_second"] = cfg.batch_size * cfg.truncation / seconds
        r["host_dispatch_us"] = 1e6 * statistics.median(dispatch[name])
        if count_flops:
            flops = step_flops(p["cfg"], p["task"])
            r["flops_per_meta_step"] = flops
            r["achieved_gflops"] = flops / seconds / 1e9
            r["utilization_of_matmul"] = r["achieved_gflops"] / matmul
        result[name] = r
    if both:
        result["speedup"] = (
            result["before"]["seconds_per_meta_step"] / (result["after"]["seconds_per_meta_step"])
        )
    return result


def print_result(r: dict) -> None:
    rows = [
        ("device", r["device"]),
        ("config", r["config"]),
        ("estimator", r["estimator"] + (" + remat" if r["remat"] else "")),
        ("batch x truncation", f"{r['batch']} x {r['truncation']} (horizon {r['horizon']})"),
        ("meta-steps timed (each path)", f"{r['meta_steps_timed']}"),
    ]
    names = [n for n in ("before", "after") if n in r]
    fields = [
        ("meta-steps / s (median)", lambda p: f"{p['meta_steps_per_second']:.2f}"),
        ("optimizee steps / s", lambda p: f"{p['optimizee_steps_per_second']:,.0f}"),
        ("host dispatch per meta-step (us)", lambda p: f"{p['host_dispatch_us']:.0f}"),
        ("compile time (s)", lambda p: f"{p['compile_seconds']:.2f}"),
        ("FLOPs per meta-step (XLA)", lambda p: f"{p['flops_per_meta_step'] / 1e6:,.1f} M"),
        ("achieved GFLOP/s", lambda p: f"{p['achieved_gflops']:.2f}"),
        ("utilization of matmul rate", lambda p: f"{100 * p['utilization_of_matmul']:.1f} %"),
        ("XLA buffers of the step (MiB)", lambda p: f"{p['xla_step_memory_mib']:.2f}"),
    ]
    for label, show in fields:
        try:
            rows.append((label, " | ".join(f"{n}: {show(r[n])}" for n in names)))
        except KeyError:
            continue
    rows.append(("float32 matmul GFLOP/s (this machine)", f"{r['matmul_gflops']:.1f}"))
    rows.append(("process peak RSS (MiB)", f"{r['process_peak_rss_mib']:.0f}"))
    if "speedup" in r:
        rows.append(("speed-up (after / before)", f"{r['speedup']:.2f}x"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def show_table(results: dict) -> None:
    """The markdown table of docs/throughput.md (each row's own command where it has one)."""
    print(f"{results['machine']}; {results['date']}; `{results['command']}`\n")
    print(
        "| architecture, task | batch | meta-steps/s before -> after | speed-up "
        "| optimizee steps/s after | GFLOP per meta-step before -> after "
        "| utilization before -> after | matmul GFLOP/s (same run) "
        "| XLA buffers MiB before -> after | compile s before -> after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results["rows"]:
        b, a = row["before"], row["after"]
        print(
            f"| {row['row']} | {row['batch']} "
            f"| {b['meta_steps_per_second']:.2f} -> {a['meta_steps_per_second']:.2f} "
            f"| {row['speedup']:.2f}x | {a['optimizee_steps_per_second']:,.0f} "
            f"| {b['flops_per_meta_step'] / 1e9:.2f} -> {a['flops_per_meta_step'] / 1e9:.2f} "
            f"| {100 * b['utilization_of_matmul']:.1f} % -> "
            f"{100 * a['utilization_of_matmul']:.1f} % | {row['matmul_gflops']:.0f} "
            f"| {b['xla_step_memory_mib']:.1f} -> {a['xla_step_memory_mib']:.1f} "
            f"| {b['compile_seconds']:.0f} -> {a['compile_seconds']:.0f} |"
        )
    for row in results["rows"]:
        if "command" in row:
            print(f"\n{row['row']}: `{row['command']}`")


def _child(arguments: list[str], devices: int | None = None) -> dict:
    """One measurement in a fresh process (``devices``: forced CPU device count)."""
    env = dict(os.environ)
    if devices is not None:
        flags = env.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    command = [sys.executable, __file__, *arguments, "--json"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(args) -> None:
    results = {
        "command": " ".join(["python", "scripts/bench_meta_train.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "rows": [],
    }
    for name, config, overrides in ROWS:
        r = _child([config, *overrides, f"--steps={args.steps}", f"--rounds={args.rounds}"])
        results["rows"].append({"row": name, **r})
        results["machine"], results["matmul_gflops"] = r["machine"], r["matmul_gflops"]
        print(f"{name}: {r['speedup']:.2f}x", file=sys.stderr, flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    show_table(results)


def sweep_devices(args) -> None:
    rows = [
        _child([args.config, *args.overrides, f"--steps={args.steps}", "--after-only"], n)
        for n in DEVICE_COUNTS
    ]
    base = rows[0]["after"]["optimizee_steps_per_second"]
    print("| forced CPU devices | meta-steps / s | optimizee steps / s | speed-up | utilization |")
    print("|---:|---:|---:|---:|---:|")
    for n, r in zip(DEVICE_COUNTS, rows):
        a = r["after"]
        print(
            f"| {n} | {a['meta_steps_per_second']:.2f} | {a['optimizee_steps_per_second']:,.0f} | "
            f"{a['optimizee_steps_per_second'] / base:.2f}x | "
            f"{100 * a['utilization_of_matmul']:.1f} % |",
            flush=True,
        )


def sweep_memory(args) -> None:
    print(
        "| estimator | truncation | horizon | optimizee steps / s | XLA buffers of the step (MiB) "
        "| XLA temporaries (MiB) | process peak RSS (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for estimator, remat, truncation, horizon in MEMORY_POINTS:
        overrides = [f"estimator={estimator}", f"truncation={truncation}", f"horizon={horizon}"]
        overrides.append(f"remat={str(remat).lower()}")
        flags = [f"--steps={args.steps}", "--after-only", "--no-flops"]
        r = _child([args.config, *args.overrides, *overrides, *flags])
        a = r["after"]
        name = estimator + (" + remat" if remat else "")
        print(
            f"| {name} | {truncation} | {horizon} | {a['optimizee_steps_per_second']:,.0f} | "
            f"{a['xla_step_memory_mib']:.1f} | {a['xla_temp_mib']:.1f} | "
            f"{r['process_peak_rss_mib']:.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/quadratic_lstm.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=5, help="meta-steps per timed round")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds (the median counts)")
    parser.add_argument("--table", action="store_true", help="every row of ROWS, in children")
    parser.add_argument("--out", help="with --table: write the results here as JSON")
    parser.add_argument("--show", help="print the markdown table of a --table JSON file")
    parser.add_argument("--sweep", choices=["devices", "memory"], help="a table over child runs")
    parser.add_argument("--after-only", action="store_true", help="the config as given only")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--flops", action="store_true", help="count FLOPs (the default)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    if args.show:
        return show_table(json.loads(Path(args.show).read_text()))
    if args.table:
        return table(args)
    if args.sweep == "devices":
        return sweep_devices(args)
    if args.sweep == "memory":
        return sweep_memory(args)
    result = measure(
        args.config,
        args.overrides,
        args.steps,
        args.rounds,
        not args.no_flops,
        both=not args.after_only,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print_result(result)


if __name__ == "__main__":
    main()
