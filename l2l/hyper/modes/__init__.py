r"""Hypergradient modes: how a level of a stack computes its hypergradient
:math:`\partial f(\theta_t) / \partial\phi`, interchangeable behind one signature (``Mode``, in
``l2l.hyper.modes.mode``) and registered in ``HYPERGRADIENT_MODES`` by the name that
``stack(mode=...)`` takes.

==========  ======================================  ===================  =====================
name        hypergradient                           extra work / update  memory (k learned)
==========  ======================================  ===================  =====================
forward     one-step, forward mode (the default)    k tangents (k jvps)  k P
reverse     one-step, reverse mode (same numbers)   a re-run and a vjp   P + the rule state
run         whole run, discounted by :math:`\mu`    + k Hessian-vector   k (P + the rule state)
==========  ======================================  ===================  =====================

(P: the size of the level's parameters; never a copy per step.) A mode is given the level's update
as a function of its raw hyperparameters (``LevelUpdate``) and nothing else of the level, so it
serves every rule; a new mode is one module here and one line in ``HYPERGRADIENT_MODES``.
"""

from __future__ import annotations

from collections.abc import Callable

from l2l.hyper.modes.forward import Forward
from l2l.hyper.modes.mode import NOTHING, LevelUpdate, Memory, Mode
from l2l.hyper.modes.reverse import Reverse
from l2l.hyper.modes.whole_run import WholeRun

#: name (``stack(mode=...)``) -> factory ``discount -> Mode``; a new mode registers here.
HYPERGRADIENT_MODES: dict[str, Callable[[float], Mode]] = {
    "forward": lambda discount: Forward(),
    "reverse": lambda discount: Reverse(),
    "run": WholeRun,
}

__all__ = [
    "HYPERGRADIENT_MODES",
    "NOTHING",
    "Forward",
    "LevelUpdate",
    "Memory",
    "Mode",
    "Reverse",
    "WholeRun",
]
