"""Meta-training throughput and memory: optimizee steps per second (every task of the batch
counted), the meta-step's FLOPs and achieved GFLOP/s against this machine's own float32 matmul
GFLOP/s (measured in the same run, so the utilization is a ratio of two numbers taken together),
compile time, and peak memory.

    python scripts/bench_meta_train.py [CONFIG.yaml] [key=value ...] [--steps N] [--rounds R]
    python scripts/bench_meta_train.py --sweep devices   # 1, 2, 4 forced CPU devices
    python scripts/bench_meta_train.py --sweep memory    # truncation x horizon x estimator

FLOPs: XLA's cost analysis counts the body of a loop once, whatever its trip count, so the count
comes from two more compiles of the same meta-step with the unroll's scan fully unrolled, at
truncations 1 and 2: FLOPs(T) = F(1) + (T - 1) (F(2) - F(1)), exact for a step whose work is
linear in T (summed over the devices of a sharded step). With the scan unrolled, XLA merges the
recomputation of ``remat`` with the forward pass, so the count is the arithmetic of the meta-step
itself, not what recomputation adds. Memory: the compiled step's own buffers (XLA
memory_analysis: arguments + outputs + temporaries - donated) and the process's peak RSS (which
also holds the compiler's memory).
A sweep runs every point in a fresh child process (XLA_FLAGS must be set before JAX starts) and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

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
    import dataclasses

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


def measure(config: str, overrides: list[str], steps: int, rounds: int, count_flops: bool) -> dict:
    """Everything about one config, measured in this process."""
    import jax

    from l2l import config as config_lib
    from l2l import meta
    from l2l.experiments import meta_train

    cfg = config_lib.load(meta_train.Config, config, overrides)
    task = cfg.task.build()
    trainer = meta.make_trainer(cfg, task)
    state = trainer.init()

    start = time.perf_counter()
    compiled = trainer.step.lower(state).compile()
    compile_seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    state, metrics = compiled(state)  # warm-up
    jax.block_until_ready(metrics)

    matmul_before = matmul_gflops()
    per_step, dispatch = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            call = time.perf_counter()
            state, metrics = compiled(state)
            dispatch.append(time.perf_counter() - call)
        jax.block_until_ready(metrics)
        per_step.append((time.perf_counter() - start) / steps)
    matmul = max(matmul_before, matmul_gflops())
    seconds = statistics.median(per_step)

    result = {
        "device": f"{jax.devices()[0].platform} x{jax.device_count()}",
        "config": f"{config} {' '.join(overrides)}".strip(),
        "estimator": cfg.estimator,
        "batch": cfg.batch_size,
        "truncation": cfg.truncation,
        "horizon": cfg.horizon,
        "remat": cfg.remat,
        "meta_steps_timed": steps * rounds,
        "seconds_per_meta_step": seconds,
        "best_seconds_per_meta_step": min(per_step),
        "optimizee_steps_per_second": cfg.batch_size * cfg.truncation / seconds,
        "host_dispatch_us": 1e6 * statistics.median(dispatch),
        "compile_seconds": compile_seconds,
        "matmul_gflops": matmul,
        "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if memory is not None:
        result["xla_step_memory_mib"] = (
            memory.temp_size_in_bytes
            + memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            - memory.alias_size_in_bytes
        ) / 2**20
        result["xla_temp_mib"] = memory.temp_size_in_bytes / 2**20
    if count_flops:
        flops = step_flops(cfg, task)
        result["flops_per_meta_step"] = flops
        result["achieved_gflops"] = flops / seconds / 1e9
        result["utilization_of_matmul"] = result["achieved_gflops"] / matmul
    return result


def print_table(r: dict) -> None:
    rows = [
        ("device", r["device"]),
        ("config", r["config"]),
        ("estimator", r["estimator"] + (" + remat" if r["remat"] else "")),
        ("batch x truncation", f"{r['batch']} x {r['truncation']} (horizon {r['horizon']})"),
        ("meta-steps timed", f"{r['meta_steps_timed']}"),
        ("meta-steps / s (median)", f"{1 / r['seconds_per_meta_step']:.2f}"),
        ("optimizee steps / s", f"{r['optimizee_steps_per_second']:,.0f}"),
        ("host dispatch per meta-step (us)", f"{r['host_dispatch_us']:.0f}"),
        ("compile time (s)", f"{r['compile_seconds']:.2f}"),
    ]
    if "flops_per_meta_step" in r:
        rows += [
            ("FLOPs per meta-step (XLA cost analysis)", f"{r['flops_per_meta_step'] / 1e6:,.1f} M"),
            ("achieved GFLOP/s", f"{r['achieved_gflops']:.2f}"),
            ("float32 matmul GFLOP/s (this machine)", f"{r['matmul_gflops']:.1f}"),
            ("utilization of matmul rate", f"{100 * r['utilization_of_matmul']:.1f} %"),
        ]
    if "xla_step_memory_mib" in r:
        rows.append(("XLA buffers of the step (MiB)", f"{r['xla_step_memory_mib']:.2f}"))
    rows.append(("process peak RSS (MiB)", f"{r['process_peak_rss_mib']:.0f}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def child(args, extra_overrides: list[str], devices: int | None = None) -> dict:
    """One measurement in a fresh process (``devices``: forced CPU device count)."""
    env = dict(os.environ)
    if devices is not None:
        flags = env.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    command = [
        sys.executable,
        __file__,
        args.config,
        *args.overrides,
        *extra_overrides,
        f"--steps={args.steps}",
        f"--rounds={args.rounds}",
        "--json",
    ]
    if args.flops:
        command.append("--flops")
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sweep_devices(args) -> None:
    rows = [child(args, [], devices=n) for n in DEVICE_COUNTS]
    base = rows[0]["optimizee_steps_per_second"]
    print(
        "| forced CPU devices | meta-steps / s | optimizee steps / s | speed-up "
        "| achieved GFLOP/s | matmul GFLOP/s | utilization |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in zip(DEVICE_COUNTS, rows):
        flops = (
            f"{r['achieved_gflops']:.1f} | {r['matmul_gflops']:.0f} | "
            f"{100 * r['utilization_of_matmul']:.1f} %"
            if "achieved_gflops" in r
            else f"- | {r['matmul_gflops']:.0f} | -"
        )
        print(
            f"| {n} | {1 / r['seconds_per_meta_step']:.2f} | "
            f"{r['optimizee_steps_per_second']:,.0f} | "
            f"{r['optimizee_steps_per_second'] / base:.2f}x | {flops} |",
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
        r = child(args, [*overrides, f"remat={str(remat).lower()}"])
        name = estimator + (" + remat" if remat else "")
        print(
            f"| {name} | {truncation} | {horizon} | {r['optimizee_steps_per_second']:,.0f} | "
            f"{r['xla_step_memory_mib']:.1f} | {r['xla_temp_mib']:.1f} | "
            f"{r['process_peak_rss_mib']:.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/quadratic_lstm.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=10, help="meta-steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (the median counts)")
    parser.add_argument("--sweep", choices=["devices", "memory"], help="a table over child runs")
    parser.add_argument("--flops", action="store_true", help="count FLOPs in sweeps too")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    if args.sweep == "devices":
        return sweep_devices(args)
    if args.sweep == "memory":
        return sweep_memory(args)
    result = measure(
        args.config, args.overrides, args.steps, args.rounds, args.flops or not args.json
    )
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
