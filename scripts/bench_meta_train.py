"""Meta-training throughput of the quadratic config: optimizee steps per second (every task of the
batch counted), compile time, and peak memory.

    python scripts/bench_meta_train.py [CONFIG.yaml] [key=value ...] [--steps N]

Prints one table; all figures come from this one run on this machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import jax

from l2l import config as config_lib
from l2l.config import build_task
from l2l.meta import trainer as trainer_lib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/quadratic_lstm.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=100, help="timed meta-steps")
    args = parser.parse_args()
    cfg = config_lib.load(trainer_lib.MetaTrainConfig, args.config, args.overrides)
    task = build_task(cfg.task)
    trainer = trainer_lib.make_trainer(cfg, task)
    state = trainer.init()

    start = time.perf_counter()
    compiled = trainer.step.lower(state).compile()
    compile_seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    state, metrics = compiled(state)  # warm-up
    jax.block_until_ready(metrics)

    start = time.perf_counter()
    for _ in range(args.steps):
        state, metrics = compiled(state)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start

    optimizee_steps = args.steps * cfg.batch_size * cfg.truncation
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("device", f"{jax.devices()[0].platform} x{jax.device_count()}"),
        ("config", f"{args.config} {' '.join(args.overrides)}".strip()),
        ("batch x truncation", f"{cfg.batch_size} x {cfg.truncation} (horizon {cfg.horizon})"),
        ("meta-steps timed", f"{args.steps}"),
        ("meta-steps / s", f"{args.steps / seconds:.2f}"),
        ("optimizee steps / s", f"{optimizee_steps / seconds:,.0f}"),
        ("compile time (s)", f"{compile_seconds:.2f}"),
    ]
    if memory is not None:
        peak = (
            memory.temp_size_in_bytes
            + memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            - memory.alias_size_in_bytes
        )
        rows.append(("XLA peak buffers of the step (MiB)", f"{peak / 2**20:.2f}"))
    rows.append(("process peak RSS (MiB)", f"{rss_mib:.0f}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
