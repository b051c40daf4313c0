"""A griffe extension: every docstring of the loaded package through ``rst.to_markdown``.

Enabled in mkdocs.yml (``extensions: [docs/hooks/griffe_rst.py]`` of the python handler). Cross
references are resolved like Python names: from the object outwards to its module and the package.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rst import Resolver, to_markdown


def _resolver(obj: griffe.Object, package: griffe.Module) -> Resolver:
    def lookup(scope: griffe.Object | griffe.Alias, dotted: str) -> str | None:
        try:
            found = scope[dotted]
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        return found.path

    def resolve(name: str) -> str | None:
        root = package.name + "."
        if name == package.name:
            return package.path
        if name.startswith(root):
            return lookup(package, name[len(root) :])
        scope: griffe.Object | None = obj
        while scope is not None:
            if name.split(".")[0] in scope.members:
                return lookup(scope, name)
            scope = scope.parent
        return None

    return resolve


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            yield from _objects(member)


_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _field_help(attribute: griffe.Object) -> str | None:
    """A config field's ``help=`` and range (``l2l.config.field(..., ge=1, help=...)``)."""
    if not isinstance(attribute, griffe.Attribute) or attribute.value is None:
        return None
    try:
        call = ast.parse(str(attribute.value), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and ast.unparse(call.func).split(".")[-1] == "field"):
        return None
    given = {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg}
    text = ast.literal_eval(given["help"]) if "help" in given else ""
    bounds = [f"{sign} {given[name]}" for name, sign in _BOUNDS.items() if name in given]
    if bounds:
        text = f"{text} ({', '.join(bounds)})" if text else f"A value {', '.join(bounds)}."
    return text or None


class ReSTToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package once the package is complete; a config field
    without a docstring is described by its ``help=`` and range."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is None and (text := _field_help(obj)):
                obj.docstring = griffe.Docstring(text, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, _resolver(obj, pkg))
