""" "Did you mean ...?" for a name that is not one of the known ones. Imports nothing of l2l."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` (with a leading space) for the closest choices, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=2)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
