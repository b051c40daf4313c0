"""Put a meta-trained optimizer into the package's zoo (``l2l/zoo/NAME.l2l``) with its record.

    python scripts/zoo_add.py runs/mnist_lstm/best.l2l mnist-lstm --note "..." \
        [--generalization runs/mnist_generalization/results.json [--held-out-panel base]]
        [--held-out-report runs/quadratic_lstm_eval/results.json]

The file written by ``l2l meta-train`` already holds its config, how it was trained and its
closing comparison with tuned baselines (``held_out``, in which the optimizer is labelled by its
file name: relabelled NAME here). ``--generalization`` adds the ratio to the best tuned baseline
in every panel of an ``l2l evaluate`` report with settings (the report must have evaluated NAME
from the zoo, so add the file first, evaluate, then add it again with the report);
``--held-out-panel`` makes that panel the documented ``held_out`` result (the closing comparison
moves to ``held_out_training_task``). ``--held-out-report`` makes the comparison of an ``l2l
evaluate`` report without settings (one that evaluated NAME) the documented ``held_out`` result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from l2l import evaluate, learned


def relabel(held_out: dict, old: str, new: str) -> dict:
    """``held_out`` with the learned optimizer's label ``old`` renamed ``new`` in every table."""
    out = dict(held_out)
    for key in ("mean_summed_loss", "first_summed_losses", "ratio_to_best_baseline"):
        if key in out:
            out[key] = {(new if k == old else k): v for k, v in out[key].items()}
    return out


def zoo_info(
    info: dict,
    source_label: str,
    name: str,
    note: str,
    generalization: dict | None = None,
    held_out_panel: str | None = None,
) -> dict:
    info = dict(info)
    if "held_out" in info:
        info["held_out"] = relabel(info["held_out"], source_label, name)
    info["note"] = note
    if generalization is not None:
        panels = {p["name"]: p for p in generalization["settings"]}
        ratios = {}
        for panel_name, panel in panels.items():
            panel_ratios = evaluate.Comparison.from_json(panel).ratios_to_best_baseline()
            if name not in panel_ratios:
                raise SystemExit(f"panel {panel_name!r} of the report did not evaluate {name!r}")
            ratios[panel_name] = panel_ratios[name]
        info["generalization_ratio_to_best_baseline"] = ratios
        if held_out_panel is not None:
            if held_out_panel not in panels:
                raise SystemExit(f"no panel {held_out_panel!r}; panels: {', '.join(panels)}")
            if "held_out" in info:
                info["held_out_training_task"] = info["held_out"]
            info["held_out"] = evaluate.Comparison.from_json(
                panels[held_out_panel]
            ).held_out_summary()
    elif held_out_panel is not None:
        raise SystemExit("--held-out-panel needs --generalization")
    return info


def held_out_from_report(report: dict, name: str) -> dict:
    """The ``held_out`` record of an ``l2l evaluate`` report (no settings) that evaluated NAME."""
    if "results" not in report:
        raise SystemExit("--held-out-report needs a report without settings")
    comparison = evaluate.Comparison.from_json(report)
    if name not in comparison.ratios_to_best_baseline():
        raise SystemExit(f"the report did not evaluate {name!r}")
    return comparison.held_out_summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a .l2l file written by l2l meta-train")
    parser.add_argument("name", help="the zoo name (l2l.pretrained(name))")
    parser.add_argument("--note", required=True, help="one line: what it was trained on, how well")
    parser.add_argument("--generalization", type=Path, help="an l2l evaluate results.json")
    parser.add_argument("--held-out-panel", help="the report panel to document as held_out")
    parser.add_argument(
        "--held-out-report", type=Path, help="an l2l evaluate results.json to document as held_out"
    )
    parser.add_argument("--zoo-dir", type=Path, default=learned.zoo.ZOO_DIR)
    args = parser.parse_args(argv)
    trained = learned.read(args.source)
    report = json.loads(args.generalization.read_text()) if args.generalization else None
    info = zoo_info(
        trained.info, args.source.stem, args.name, args.note, report, args.held_out_panel
    )
    if args.held_out_report is not None:
        report = json.loads(args.held_out_report.read_text())
        info["held_out"] = held_out_from_report(report, args.name)
    target = args.zoo_dir / f"{args.name}{learned.io.SUFFIX}"
    learned.save(target, trained.meta_params, trained.config, info)
    print(f"wrote {target} ({target.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
