"""l2l's reST-flavoured docstrings as the Markdown that mkdocstrings renders (no dependencies).

l2l's docstrings are Google style (``Args:``, ``Returns:``, ``References:``) with a few reST
constructs that ``help()`` readers know, which Markdown does not: ``:math:`x``` and
``.. math::`` blocks, cross-references ``:mod:``, ``:class:``, ``:func:``, ``:meth:``,
``:data:``, ``:attr:`` (``~`` shows the last name only), literal blocks introduced by ``::``, and
lists whose continuation lines are indented by two spaces. ``to_markdown`` rewrites a docstring
into:

- ``$x$`` and ``$$ ... $$`` (pymdownx.arithmatex renders them with MathJax); a block with
  ``&`` or ``\\`` is wrapped in ``aligned`` / ``gathered`` as Sphinx's ``math`` directive does;
- ``<autoref identifier="l2l.x.y" optional>`` links (mkdocs-autorefs): resolved like Python
  names, from the object outwards to its module and the package; a name that is not rendered
  anywhere stays plain code, without a warning;
- fenced code blocks for literal blocks (Python when they parse as Python with a call in them);
- list items whose nested paragraphs are indented by four spaces (Python-Markdown's rule).

Docstrings in Markdown already (fenced blocks, ``Examples:`` sections with ``>>>``) pass through.
``griffe_rst.py`` applies it to every docstring of the package (mkdocs.yml); the docstring tests
use it to find every code block the site shows.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable

ROLE = re.compile(r":(?P<role>math|mod|class|func|meth|data|attr|obj|exc):`(?P<text>[^`]+)`", re.S)
BULLET = re.compile(r"^(?P<indent> *)[*-] ")
SECTION = re.compile(r"^ *[A-Z][A-Za-z ]*:$")  # "Args:", "Returns:", "References:", ...

Resolver = Callable[[str], "str | None"]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int, base: int) -> int:
    """The end (exclusive) of the block from ``start``: lines blank or deeper than ``base``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _math_block(body: list[str], indent: str) -> list[str]:
    maths = textwrap.dedent("\n".join(body)).strip("\n")
    if "&" in maths:
        maths = f"\\begin{{aligned}}\n{maths}\n\\end{{aligned}}"
    elif "\\\\" in maths:
        maths = f"\\begin{{gathered}}\n{maths}\n\\end{{gathered}}"
    return ["", f"{indent}$$", *(f"{indent}{m}" for m in maths.splitlines()), f"{indent}$$", ""]


def _language(code: str) -> str:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "text"
    return "python" if any(isinstance(n, ast.Call) for n in ast.walk(tree)) else "text"


def _code_block(body: list[str], indent: str) -> list[str]:
    code = textwrap.dedent("\n".join(body)).strip("\n")
    fence = [f"{indent}```{_language(code)}", *(f"{indent}{c}" for c in code.splitlines())]
    return ["", *fence, f"{indent}```", ""]


def _blocks(lines: list[str]) -> list[str]:
    """``.. math::`` blocks and literal blocks (after ``::`` or deeper than their paragraph)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        base = _indent(line)
        if stripped == ".. math::" or stripped.startswith(".. math:: "):
            end = _block(lines, i + 1, base)
            first = stripped[len(".. math::") :].strip()
            out += _math_block(([first] if first else []) + lines[i + 1 : end], " " * base)
            i = end
            continue
        previous = next((p for p in reversed(out) if p.strip()), "")
        starts_block = (
            stripped
            and not out[-1:] != [""]  # after a blank line
            and previous
            and _indent(line) >= _indent(previous) + (4 if BULLET.match(previous) else 2)
            and not SECTION.match(previous)
            and not previous.strip().startswith(("$$", "```", ">>>", "..."))
            and not stripped.startswith((">>>", "```"))
        )
        if previous.rstrip().endswith("::") and stripped and not out[-1:] != [""]:
            starts_block = True
        if starts_block:
            end = _block(lines, i, _indent(previous))
            for k in range(len(out) - 1, -1, -1):  # "text::" -> "text:", "text ::" -> "text"
                if out[k].strip():
                    if out[k].rstrip().endswith("::"):
                        head = out[k].rstrip()[:-2]
                        out[k] = head.rstrip() if head.endswith(" ") else head + ":"
                    break
            out += _code_block(lines[i:end], " " * _indent(previous))[1:]
            i = end
            continue
        out.append(line)
        i += 1
    return out


def _lists(lines: list[str]) -> list[str]:
    """Continuation lines of ``* item`` / ``- item`` indented to four spaces past the bullet."""
    out: list[str] = []
    shift = None  # (bullet's indent, extra spaces) while inside an item
    fence = False
    for line in lines:
        if line.strip().startswith("```"):
            fence = not fence if shift is None else fence
        match = BULLET.match(line) if not fence else None
        if match:
            bullet = len(match["indent"])
            if shift is None or bullet <= shift[0]:
                shift = (bullet, 2)  # continuation at bullet + 2 in reST, bullet + 4 here
                out.append(line)
                continue
        if shift is not None and line.strip() and _indent(line) <= shift[0]:
            shift = None
        if shift is not None and line.strip():
            line = " " * shift[1] + line
        out.append(line)
    return out


CODE_OR_ROLE = re.compile(
    r"(?P<fence>^ *```.*?^ *```$)|(?P<double>``.+?``)|" + ROLE.pattern + r"|(?P<single>`[^`\n]+`)",
    re.S | re.M,
)


def _roles(text: str, resolve: Resolver) -> str:
    """Roles as Markdown; fenced blocks and code spans untouched."""

    def replace(match: re.Match[str]) -> str:
        role, content = match["role"], match["text"]
        if role is None:
            return match.group(0)
        if role == "math":
            return f"${' '.join(content.split())}$"
        name = content.strip().removesuffix("()")
        short = name.lstrip("~")
        title = short.rsplit(".", 1)[-1] if name.startswith("~") else short
        target = resolve(short)
        if target is None:
            return f"`{title}`"
        return f'<autoref identifier="{target}" optional><code>{title}</code></autoref>'

    return CODE_OR_ROLE.sub(replace, text)


def to_markdown(docstring: str, resolve: Resolver) -> str:
    """One docstring, reST-flavoured, as Markdown (see the module's docstring)."""
    lines = _lists(_blocks(docstring.splitlines()))
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return _roles(text, resolve)
