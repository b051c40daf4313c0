"""The package's type hints ship with it: the PEP 561 marker, listed as package data (CI runs mypy,
configured in pyproject.toml, on l2l/)."""

import importlib.resources
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_ships_its_type_hints():
    assert (importlib.resources.files("l2l") / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^"l2l" = \[[^]\n]*"py\.typed"[^]\n]*\]$', pyproject, flags=re.M)
