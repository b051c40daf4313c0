"""The ``l2l`` command: a table from subcommand to experiment (:data:`l2l.experiments.EXPERIMENTS`).

    l2l meta-train [CONFIG.yaml] [key=value ...]
    l2l evaluate [CONFIG.yaml] [key=value ...]
    l2l study responses [CONFIG.yaml] [key=value ...]
    l2l study surfaces [CONFIG.yaml] [key=value ...]
    l2l hyper [CONFIG.yaml] [key=value ...]
    l2l zero-machine [CONFIG.yaml] [key=value ...]
    l2l talk [CONFIG.yaml] [key=value ...]
    l2l short-horizon [CONFIG.yaml] [key=value ...]
    l2l no-tuning [CONFIG.yaml] [key=value ...]
    l2l no-tuning-suite [CONFIG.yaml] [--quick] [key=value ...]
    l2l benchmark [CONFIG.yaml] [--quick] [--tune-baselines] [key=value ...]

Every subcommand does the same: load the experiment's config (without a file, its embedded
defaults; dotted overrides on top), ``run`` it, ``write`` its report into ``output_dir`` and print
its ``summary``. A mistake the user can fix (a bad config, an unknown name, a corrupt file, a data
set that fails its checksum) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from l2l._errors import L2LError
from l2l.config import ConfigError, load
from l2l.experiments import EXPERIMENTS, experiment

# The help of a command word that groups several experiments (theirs is in EXPERIMENTS).
GROUP_HELP = {"study": "make optimizers visible: response curves, races on 2-D surfaces"}


def _add_config_arguments(
    p: argparse.ArgumentParser, words: tuple[str, ...], flags: tuple[tuple[str, str], ...]
) -> None:
    p.set_defaults(words=words, flags=[])
    for flag, override in flags:
        p.add_argument(
            flag, dest="flags", action="append_const", const=override, help=f"= {override}"
        )
    p.add_argument(
        "config", nargs="?", default=None, help="YAML config (default: the embedded default)"
    )
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. steps=200 task.dim=20")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l2l", description="l2l: optimizers that learn (JAX).")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, entry in EXPERIMENTS.items():
        head = words[0]
        if len(words) == 1:
            p = sub.add_parser(head, help=entry.help, description=entry.help)
            _add_config_arguments(p, words, entry.flags)
            continue
        if head not in groups:
            p = sub.add_parser(head, help=GROUP_HELP[head], description=GROUP_HELP[head])
            groups[head] = p.add_subparsers(dest="subcommand", required=True)
        q = groups[head].add_parser(words[1], help=entry.help, description=entry.help)
        _add_config_arguments(q, words, entry.flags)
    return parser


def _one_line(err: Exception) -> str:
    """An error's message on one line: its first line (what was wrong) and, for a longer message
    (e.g. every mirror a download tried), its last (what to do)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(err).__name__
    return f"{lines[0]} {lines[-1]}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A command's flags may stand anywhere among its overrides (argparse would end the overrides
    # at the first flag): they are taken out first and checked against the command's own.
    known = {flag for entry in EXPERIMENTS.values() for flag, _ in entry.flags}
    flags = [a for a in argv if a in known]
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a not in known])
    own = dict(EXPERIMENTS[args.words].flags)
    for flag in flags:
        if flag not in own:
            parser.error(f"l2l {' '.join(args.words)} has no option {flag}")
        args.flags.append(own[flag])
    # A first positional of the form key=value is an override of the embedded default.
    if (
        args.config is not None
        and "=" in args.config
        and not args.config.endswith((".yaml", ".yml"))
    ):
        args.overrides = [args.config, *args.overrides]
        args.config = None
    args.overrides = [*args.flags, *args.overrides]
    name = " ".join(args.words)
    module = experiment(EXPERIMENTS[args.words].module)
    try:
        cfg = load(module.Config, args.config, args.overrides)
        report = module.run(cfg)
        import jax

        if jax.process_index() != 0:  # in a multi-process run, process 0 alone reports
            return 0
        paths = module.write(report, cfg.output_dir)
    except ConfigError as err:
        print(f"l2l {name}: config error: {_one_line(err)}", file=sys.stderr)
        return 2
    except L2LError as err:
        print(f"l2l {name}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    print(module.summary(report))
    out = paths[0].parent
    print(f"\nwrote into {out}: " + " ".join(str(p.relative_to(out)) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
