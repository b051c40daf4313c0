"""The ``l2l`` command. Each subcommand loads a config and calls library functions; no logic here.

    l2l meta-train [CONFIG.yaml] [key=value ...]
    l2l evaluate [CONFIG.yaml] [key=value ...]
    l2l study {responses,surfaces} [CONFIG.yaml] [key=value ...]
    l2l zero-machine [CONFIG.yaml] [key=value ...]

Without a config file a subcommand runs its embedded default (the config class's defaults).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from l2l import config as config_lib


def _evaluate(args) -> int:
    from l2l import evaluate

    cfg = config_lib.load(evaluate.EvaluateConfig, args.config, args.overrides)
    start = time.perf_counter()
    title = f"{cfg.task.kind} task, {cfg.num_test} held-out instances"
    if cfg.settings:
        report = evaluate.evaluate_settings(cfg)
        for panel in report["settings"]:
            print(f"\n{panel['name']}:\n{evaluate.format_table(panel['results'])}")
        if cfg.learned:
            print("\n" + evaluate.format_settings_table(report))
    else:
        report = evaluate.evaluate(cfg)
        print(evaluate.format_table(report["results"]))
    json_path, png_path = evaluate.write_report(report, cfg.output_dir, title)
    config_lib.save(cfg, json_path.parent / "config.yaml")
    print(f"\n{time.perf_counter() - start:.1f}s; wrote {json_path} and {png_path}")
    return 0


def _meta_train(args) -> int:
    from l2l import evaluate, learned
    from l2l.meta import trainer

    cfg = config_lib.load(trainer.MetaTrainConfig, args.config, args.overrides)
    run = trainer.train(cfg)
    import jax

    if jax.process_index() != 0:  # in a multi-process run, process 0 reports and evaluates
        return 0
    out = Path(cfg.output_dir)
    print(
        f"meta-trained {run['steps']} meta-steps in {run['seconds'] / 60:.1f} min "
        f"(compile {run['compile_seconds'] or 0:.1f}s, {run['skipped']} skipped); best validation "
        f"mean summed loss {run['best_score']:.4g} at meta-step {run['best_step']}: {out / 'best.l2l'}"
    )
    if cfg.test_instances == 0:
        return 0
    eval_cfg = trainer.evaluation_config(cfg, out / "best.l2l")
    report = evaluate.evaluate(eval_cfg)
    json_path, png_path = evaluate.write_report(
        report, eval_cfg.output_dir, f"learned vs tuned baselines, {cfg.test_instances} held-out"
    )
    config_lib.save(eval_cfg, json_path.parent / "config.yaml")
    print(evaluate.format_table(report["results"]))
    (ratio,) = evaluate.ratios_to_best_baseline(report).values()
    best = evaluate.best_baseline(report)
    print(f"learned optimizer: {ratio:.3f} x the best tuned baseline's mean summed loss")
    learned.update_info(
        out / "best.l2l",
        held_out=evaluate.held_out_summary(report),
        meta_training_minutes=round(run["seconds"] / 60, 2),
    )
    print(f"wrote {json_path} and {png_path}; best tuned baseline: {best['name']}")
    return 0


def _study(args) -> int:
    from l2l import studies

    config_class, run, write, summarize = {
        "responses": (
            studies.ResponseStudyConfig,
            studies.run_response_study,
            studies.write_response_study,
            None,
        ),
        "surfaces": (
            studies.SurfaceStudyConfig,
            studies.run_surface_study,
            studies.write_surface_study,
            studies.format_race_table,
        ),
    }[args.subcommand]
    cfg = config_lib.load(config_class, args.config, args.overrides)
    start = time.perf_counter()
    report = run(cfg)
    paths = write(report, cfg)
    config_lib.save(cfg, paths[0].parent / "config.yaml")
    if summarize is not None:
        print(summarize(report))
    print(f"\n{time.perf_counter() - start:.1f}s; wrote into {paths[0].parent}:")
    print("  " + " ".join(p.name for p in paths))
    return 0


def _hyper(args) -> int:
    from l2l.data import MnistError
    from l2l.hyper import experiment

    cfg = config_lib.load(experiment.HyperMnistConfig, args.config, args.overrides)
    try:
        report = experiment.run(cfg, progress=experiment.print_progress)
    except MnistError as err:
        print(f"l2l hyper: {err}", file=sys.stderr)
        return 2
    paths = experiment.write_report(report, cfg.output_dir)
    config_lib.save(cfg, paths["json"].parent / "config.yaml")
    print(experiment.format_table(report))
    print(
        f"\n{report['minutes']:.1f} min (table {report['table_minutes']:.1f} min); wrote "
        + ", ".join(str(path) for path in paths.values())
    )
    return 0


def _zero_machine(args) -> int:
    from l2l import zero_machine

    cfg = config_lib.load(zero_machine.ZeroMachineConfig, args.config, args.overrides)
    report = zero_machine.run(cfg)
    json_path, png_path = zero_machine.write_report(report, cfg.output_dir)
    config_lib.save(cfg, json_path.parent / "config.yaml")
    print(zero_machine.format_table(report["results"]))
    print(f"\n{report['seconds']:.1f}s; wrote {json_path} and {png_path}")
    return 0


COMMANDS = {
    "meta-train": (
        _meta_train,
        "meta-train a learned optimizer, then compare it with tuned baselines",
    ),
    "evaluate": (
        _evaluate,
        "tune the classic baselines and compare optimizers on held-out instances",
    ),
    "study": (_study, "make optimizers visible: response curves, races on 2-D surfaces"),
    "hyper": (_hyper, "hyperoptimizers on MNIST: Chandra et al.'s table and robustness figure"),
    "zero-machine": (
        _zero_machine,
        "the zero-machine test: the fraction of runs reaching float32's tiny (1.18e-38) in 20 steps",
    ),
}

# Commands whose first argument picks one of several configs (`l2l study responses CONFIG`).
SUBCOMMANDS = {
    "study": {
        "responses": "plot each optimizer's update against six fixed gradient signals",
        "surfaces": "race optimizers on 2-D test surfaces: contour PNGs, GIFs and JSON",
    },
}


def _add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config", nargs="?", default=None, help="YAML config (default: the embedded default)"
    )
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. steps=200 task.dim=20")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l2l", description="l2l: optimizers that learn (JAX).")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name not in SUBCOMMANDS:
            _add_config_arguments(p)
            continue
        inner = p.add_subparsers(dest="subcommand", required=True)
        for inner_name, inner_help in SUBCOMMANDS[name].items():
            q = inner.add_parser(inner_name, help=inner_help, description=inner_help)
            _add_config_arguments(q)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A first positional of the form key=value is an override of the embedded default.
    if (
        args.config is not None
        and "=" in args.config
        and not args.config.endswith((".yaml", ".yml"))
    ):
        args.overrides = [args.config, *args.overrides]
        args.config = None
    try:
        return COMMANDS[args.command][0](args)
    except config_lib.ConfigError as err:
        print(f"l2l {args.command}: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
