"""The base of every error a user can fix: a bad config, argument, file, name or data set.

The command line prints such an error as one line naming what was wrong and exits with status 2;
anything else is a bug in l2l and keeps its traceback. Imports nothing of l2l.
"""

from __future__ import annotations


class L2LError(Exception):
    """A mistake the user can fix; its message says what was wrong, where, and what to do."""

    def __str__(self) -> str:  # a KeyError subclass would print its message as a quoted repr
        return str(self.args[0]) if self.args else ""
