"""An MkDocs hook for the API reference: no public name left out.

For every ``::: package`` line of a page under ``api/`` (the root ``l2l`` aside, whose page lists
its re-exports by hand):

- a name of the package's ``__all__`` that is also the name of one of its modules (the function
  ``momentum`` of ``l2l/optimizers/momentum.py``, ``stack`` of ``l2l/hyper/stack.py``) is one
  that griffe lists as the module, so its documentation is added below the package's, from where
  the package imports it;
- after rendering, every name of ``__all__`` must have its entry (an anchor): a missing one is a
  warning, so an error under ``mkdocs build --strict``.

``__all__`` and the imports are read from the source, without importing l2l.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.M)

log = logging.getLogger("mkdocs.hooks.api")


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def public_names(module: str) -> dict[str, str]:
    """Each name of an l2l module's ``__all__`` -> the path of its documentation entry."""
    path = _source(module)
    if path is None:
        return {}
    tree = ast.parse(path.read_text())
    names: list[str] = []
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = list(ast.literal_eval(node.value))
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    entries = {}
    for name in names:
        shadowed = path.name == "__init__.py" and _source(f"{module}.{name}") is not None
        entries[name] = imported[name] if shadowed and name in imported else f"{module}.{name}"
    return entries


def shadowed_entries(markdown: str) -> list[str]:
    """The entries to add: public names that griffe sees as the module of the same name."""
    added = []
    for module in DIRECTIVE.findall(markdown):
        if module == "l2l":
            continue
        added += [path for name, path in public_names(module).items() if path != f"{module}.{name}"]
    return added


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if not page.file.src_uri.startswith("api/"):
        return markdown
    for path in shadowed_entries(markdown):
        options = "    options:\n      heading_level: 2\n      show_root_full_path: false\n"
        markdown += f"\n::: {path}\n{options}"
    return markdown


def on_post_page(output: str, page: Any, config: Any) -> str:
    if not page.file.src_uri.startswith("api/"):
        return output
    anchors = set(re.findall(r'id="([^"]+)"', output))
    for module in DIRECTIVE.findall(page.markdown or ""):
        if module == "l2l":
            continue
        for name, path in public_names(module).items():
            if path not in anchors:
                log.warning(f"{page.file.src_uri}: the public name {module}.{name} has no entry")
    return output
