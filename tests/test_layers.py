"""The house plan's arrows (DESIGN.md): imports inside ``l2l`` point down, never up or sideways
between siblings of one floor, and no module takes part in an import cycle.

    cli -> experiments -> {plots, evaluate, meta} -> sweep -> {unroll, specs} -> {learned, hyper}
        -> {optimizers, tasks, data}

Every import counts, the ones inside functions too. The private base pieces (``l2l/_*.py``) import
nothing of l2l; the config engine (``l2l/config.py``) imports only them, so every floor may use
both. ``tasks`` may read ``data`` (a task with a data set loads it through ``l2l.data``).
``scripts/`` call the library: never ``l2l.experiments`` or ``l2l.cli`` (the command's layer).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "l2l"

BOTTOM = {"optimizers", "data"}
FLOOR_1 = BOTTOM | {"tasks"}
FLOOR_2 = FLOOR_1 | {"learned", "hyper"}
FLOOR_3 = FLOOR_2 | {"unroll", "specs"}
FLOOR_3_5 = FLOOR_3 | {"sweep"}
FLOOR_4 = FLOOR_3_5 | {"meta", "evaluate", "plots"}
#: What each part of l2l may import (besides itself and the base pieces).
ALLOWED = {
    "config": set(),
    "optimizers": set(),
    "data": set(),
    "tasks": {"data"},
    "learned": FLOOR_1,
    "hyper": FLOOR_1,
    "unroll": FLOOR_2,
    "specs": FLOOR_2,
    "sweep": FLOOR_3,
    "meta": FLOOR_3_5,
    "evaluate": FLOOR_3_5,
    "plots": FLOOR_3_5,
    "experiments": FLOOR_4,
    "cli": FLOOR_4 | {"experiments"},
    "(face)": FLOOR_4,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(name: str) -> str:
    """``l2l.a.b`` -> the module it names: a submodule where one exists, else its package."""
    parts = name.split(".")
    while parts:
        base = PACKAGE.parent.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"unresolvable import {name}")


def imports_of(path: Path) -> set[str]:
    """Every l2l module that ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "l2l"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "l2l":
                continue
            for alias in node.names:  # `from l2l.pkg import submodule` imports the submodule
                found.add(resolve(f"{node.module}.{alias.name}"))
    return found


def part(module: str) -> str:
    """The part of l2l a module belongs to: ``l2l.meta.step`` -> ``meta``; ``l2l`` (the public
    face, ``l2l/__init__.py``) -> ``(face)``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(face)"


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def wrong_arrows(edges: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in edges.items():
        source = part(module)
        for target in imported:
            dest = part(target)
            if dest == source:
                continue  # inside one part (cycles are checked on their own)
            if source.startswith("_"):
                wrong.append(f"{module} -> {target} (a base piece imports nothing of l2l)")
            elif source == "config" and not dest.startswith("_"):
                wrong.append(f"{module} -> {target} (the config engine knows no kind by name)")
            elif dest.startswith("_") or dest == "config":
                continue  # every floor may use the base pieces and the config engine
            elif dest not in ALLOWED[source]:
                wrong.append(f"{module} -> {target} ({source} may not import {dest})")
    return sorted(wrong)


def cycles_in(edges: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_every_arrow_points_down():
    wrong = wrong_arrows(graph())
    assert not wrong, "imports against the plan:\n" + "\n".join(wrong)


def test_scripts_call_the_library_not_the_command():
    scripts = sorted((PACKAGE.parent / "scripts").glob("*.py"))
    assert scripts, "no scripts found"
    wrong = [
        f"{path.name} -> {target}"
        for path in scripts
        for target in imports_of(path)
        if part(target) in ("experiments", "cli")
    ]
    assert not wrong, "scripts importing the command's layer:\n" + "\n".join(wrong)


def test_no_import_cycles():
    cycles = cycles_in(graph())
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_wrong_arrows_and_cycles(tmp_path):
    """The checker itself, on made-up graphs and a made-up file."""
    edges = {
        "l2l.optimizers.momentum": {"l2l.meta.step", "l2l._errors", "l2l.config"},
        "l2l.meta.step": {"l2l.unroll", "l2l.evaluate"},
        "l2l.unroll": {"l2l.learned"},
        "l2l._errors": {"l2l.tasks"},
        "l2l.config": {"l2l.tasks.base"},
    }
    assert wrong_arrows(edges) == [
        "l2l._errors -> l2l.tasks (a base piece imports nothing of l2l)",
        "l2l.config -> l2l.tasks.base (the config engine knows no kind by name)",
        "l2l.meta.step -> l2l.evaluate (meta may not import evaluate)",
        "l2l.optimizers.momentum -> l2l.meta.step (optimizers may not import meta)",
    ]
    assert cycles_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]
    assert cycles_in({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom l2l import meta\n\ndef f():\n    import l2l.unroll\n")
    assert imports_of(source) == {"l2l.meta", "l2l.unroll"}
