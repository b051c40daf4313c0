"""The examples as pages: each ``examples/NAME.py`` (jupytext ``# %%`` cells) with its outputs.

As an MkDocs hook (mkdocs.yml, ``hooks:``) it renders ``examples/NAME.md`` at build time from the
example's current source: markdown cells as Markdown, code cells as Python, and under each code
cell what it printed and the figures it wrote, read from the committed record
``docs/examples/NAME.json`` (and ``docs/examples/NAME/*.png``). The build runs no example, so it is
fast and offline; a code cell whose source no longer matches the record is a build warning (an
error under ``--strict``) that says how to re-record.

As a script it records the outputs, running each example at full size in its own process, one cell
after another in one namespace, as ``python examples/NAME.py`` would::

    python docs/hooks/examples.py                   # every example
    python docs/hooks/examples.py zero_machine      # one

The example ``train_your_flax_model`` reads Fashion-MNIST (see its first cell).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RECORDS = ROOT / "docs" / "examples"
FIGURES = (".png", ".gif", ".jpg", ".svg")
RECORD_COMMAND = "python docs/hooks/examples.py"

log = logging.getLogger("mkdocs.hooks.examples")


@dataclass(frozen=True)
class Cell:
    kind: str  # "markdown" or "code"
    source: str  # markdown without its comment marks; code as written

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()


def cells(text: str) -> list[Cell]:
    """The ``# %%`` cells of a jupytext percent-format script (text before the first: code)."""
    found: list[Cell] = []
    kind, lines = "code", []

    def close() -> None:
        source = "\n".join(lines).strip("\n")
        if source.strip():
            if kind == "markdown":
                source = "\n".join(_uncomment(line) for line in source.splitlines())
            found.append(Cell(kind, source))

    for line in text.splitlines():
        if line.startswith("# %%"):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    close()
    return found


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.rstrip() == "#":
        return ""
    raise ValueError(f"a markdown cell's line is not a comment: {line!r}")


def example_names() -> list[str]:
    return sorted(path.stem for path in EXAMPLES.glob("*.py"))


def record_path(name: str) -> Path:
    return RECORDS / f"{name}.json"


def stale_cells(name: str) -> list[str]:
    """What keeps the record of ``examples/NAME.py`` from matching its code cells ([] if none)."""
    code = [c for c in cells((EXAMPLES / f"{name}.py").read_text()) if c.kind == "code"]
    path = record_path(name)
    if not path.is_file():
        return [f"no recorded outputs ({path.relative_to(ROOT)})"]
    recorded = json.loads(path.read_text())["cells"]
    problems = []
    if len(recorded) != len(code):
        problems.append(f"{len(code)} code cells, {len(recorded)} recorded")
    for number, (cell, record) in enumerate(zip(code, recorded), start=1):
        if cell.sha256 != record["sha256"]:
            problems.append(f"code cell {number} changed since its outputs were recorded")
    for record in recorded:
        for figure in record["figures"]:
            if not (RECORDS / figure).is_file():
                problems.append(f"recorded figure docs/examples/{figure} is missing")
    return problems


def page(name: str) -> str:
    """The Markdown page of one example: its cells, each code cell followed by its outputs."""
    source = (EXAMPLES / f"{name}.py").read_text()
    path = record_path(name)
    record = json.loads(path.read_text()) if path.is_file() else {"cells": []}
    outputs = iter(record["cells"])
    parts = []
    for number, cell in enumerate(cells(source)):
        if cell.kind == "markdown":
            parts.append(cell.source)
            if number == 0:
                parts.append(_provenance(name, record))
            continue
        parts.append(f"```python\n{cell.source}\n```")
        output = next(outputs, None)
        if output is None or output["sha256"] != cell.sha256:
            continue
        if output["stdout"].strip():
            parts.append(f'```text title="output"\n{output["stdout"].rstrip()}\n```')
        for figure in output["figures"]:
            parts.append(f"![{Path(figure).name}]({figure})")
    return "\n\n".join(parts) + "\n"


def _provenance(name: str, record: dict[str, Any]) -> str:
    run = record.get("run")
    download = f"[`{name}.py`]({name}.py)"
    if not run:
        return f"!!! note\n    Source: {download}. No outputs recorded yet."
    return (
        f"!!! note\n    Source: {download} (`python examples/{name}.py`). The outputs below were "
        f"recorded by `{RECORD_COMMAND} {name}` on {run['date']} ({run['seconds']:.0f} s on "
        f"{run['machine']}; l2l {run['l2l']}, jax {run['jax']})."
    )


# -- MkDocs hooks -------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for name in example_names():
        for problem in stale_cells(name):
            log.warning(f"examples/{name}.py: {problem}; re-record: {RECORD_COMMAND} {name}")
        files.append(File.generated(config, f"examples/{name}.md", content=page(name)))
        source = (EXAMPLES / f"{name}.py").read_text()
        files.append(File.generated(config, f"examples/{name}.py", content=source))
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    server.watch(str(EXAMPLES))
    return server


# -- Recording ----------------------------------------------------------------------------------


def _figures(directory: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in directory.rglob("*") if p.suffix in FIGURES}


def run_cells(name: str) -> list[dict[str, Any]]:
    """Run one example cell by cell in this process; what each code cell printed and drew."""
    path = EXAMPLES / f"{name}.py"
    out = Path(os.environ["L2L_EXAMPLE_OUT"])
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    sys.argv = [str(path)]
    shutil.rmtree(RECORDS / name, ignore_errors=True)
    results = []
    for cell in cells(path.read_text()):
        if cell.kind != "code":
            continue
        before = _figures(out)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(cell.source, str(path), "exec"), namespace)
        figures = []
        for figure, mtime in sorted(_figures(out).items()):
            if before.get(figure) != mtime:
                target = RECORDS / name / figure.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(figure, target)
                figures.append(f"{name}/{figure.name}")
        results.append({"sha256": cell.sha256, "stdout": stdout.getvalue(), "figures": figures})
        print(stdout.getvalue(), end="", flush=True)
    return results


def record(name: str) -> None:
    """Run ``examples/NAME.py`` in a fresh process and write its record."""
    import jax

    import l2l

    with tempfile.TemporaryDirectory() as tmp:
        # In a scratch directory, writing where the example writes by default (what it prints).
        env = dict(os.environ, L2L_EXAMPLE_OUT="examples_out")
        env.pop("L2L_EXAMPLE_SMALL", None)
        start = time.perf_counter()
        results = Path(tmp) / "cells.json"
        (Path(tmp) / "examples_out").mkdir()
        command = [sys.executable, __file__, "--run-cells", name, str(results)]
        subprocess.run(command, cwd=tmp, env=env, check=True)
        seconds = time.perf_counter() - start
        recorded_cells = json.loads(results.read_text())
    record = {
        "example": f"examples/{name}.py",
        "command": f"{RECORD_COMMAND} {name}",
        "run": {
            "date": time.strftime("%Y-%m-%d"),
            "seconds": round(seconds, 1),
            "machine": f"{len(os.sched_getaffinity(0))} CPU cores, {platform.machine()}",
            "l2l": l2l.__version__,
            "jax": jax.__version__,
        },
        "cells": recorded_cells,
    }
    RECORDS.mkdir(parents=True, exist_ok=True)
    record_path(name).write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded {record_path(name).relative_to(ROOT)} ({seconds:.0f} s)")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--run-cells"]:
        Path(argv[2]).write_text(json.dumps(run_cells(argv[1])))
        return
    names = argv or example_names()
    unknown = sorted(set(names) - set(example_names()))
    if unknown:
        sys.exit(f"no such example: {', '.join(unknown)} (examples: {', '.join(example_names())})")
    for name in names:
        record(name)


if __name__ == "__main__":
    main(sys.argv[1:])
