r"""The one signature of a hypergradient mode (``Mode``), and what a mode is given and keeps.

A level of a stack steps its parameters (the optimizee's weights at level 0; above it, the packed
raw values of the level below) with a rule whose k learned hyperparameters are stored as raw
values :math:`\phi \in \mathbb{R}^k`, :math:`h = T(\phi)`. A mode needs nothing of the level but
its update as a function of :math:`\phi` (a ``LevelUpdate``, built by ``Level.raw_update``); it
differentiates that function, and never knows which rule it is. The update may read the
parameters (``reads_params``: AdamW's weight decay :math:`\lambda\theta`), not only the gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax

#: ``(phi, grads, rule_state, params) -> (step, new rule_state)``: a level's update as a function
#: of the raw values ``phi`` of its k learned hyperparameters, packed in one vector (or, where the
#: update has ``takes_coordinates = True``, given as the tuple of the k scalars, which lets
#: forward mode differentiate along each one alone).
LevelUpdate = Callable[[jax.Array, Any, Any, Any], tuple[Any, Any]]


class Memory(NamedTuple):
    """What a mode keeps from one update to the next for its next hypergradient; ``()`` where a
    mode keeps nothing of the kind. ``LevelState`` has the same four fields."""

    tangent: Any  # d step / d phi of the last update (forward), d theta / d phi (whole run):
    #   the parameters' pytree with a leading axis of k on every leaf.
    state_tangent: tuple  # d rule_state / d phi of the rule state's float leaves, each with a
    #   leading axis of k (whole run).
    previous_rule_state: Any  # the rule state the last update started from (reverse).
    previous_grad: Any  # the gradient of the last update (reverse).
    previous_params: Any = ()  # the parameters of the last update, where the rule reads them
    #   (reverse; weight decay).


#: What a level that learns nothing keeps.
NOTHING = Memory(
    tangent=(), state_tangent=(), previous_rule_state=(), previous_grad=(), previous_params=()
)


class Mode(Protocol):
    r"""How a level's hypergradient :math:`\partial f(\theta_t) / \partial \phi` is computed: what
    the level keeps, the hypergradient from the next gradient, and the update that keeps it.

    ``init(phi, params, rule_state, update=None) -> Memory``: what the level keeps before its
    first update; ``update`` (the level's ``LevelUpdate``, given by the stack) says whether the
    rule reads its parameters (``update.reads_params``, true where the attribute is missing).

    ``hypergradient(update, phi, memory, grads, with_norms) -> (hypergradient, norms)``: the
    derivative of the loss at the parameters the last update made, :math:`f(\theta_t)`, with
    respect to ``phi`` (shape ``(k,)``; ``phi``: the raw values of that update, still the level's
    own), from ``grads`` :math:`= g_t = \nabla f(\theta_t)`; ``norms``, only ``with_norms``
    (else ``None``): the norms :math:`(\lVert J_j \rVert)_j` of that update's k tangents
    :math:`J_j = \partial\, \mathrm{step} / \partial \phi_j`, which the level above reads to
    normalize the hypergradient (``Level.normalize``).

    ``step(update, phi, grads, rule_state, params, memory, grad_fn) -> (step, rule_state,
    memory)``: the level's update with raw values ``phi`` (``update(phi, grads, rule_state,
    params)``'s step and new rule state, the same numbers) and what it keeps for the next
    hypergradient. ``grad_fn`` (params -> gradient pytree) is given where ``needs_grad_fn``.
    """

    discounted: bool  # whether it reads the stack's ``discount`` (else the discount must be 1).
    needs_grad_fn: bool  # whether ``update`` needs ``params`` and ``grad_fn``.

    def above(self) -> Mode:
        """The mode of the levels above the bottom one."""
        ...

    def init(
        self, phi: jax.Array, params: Any, rule_state: Any, update: LevelUpdate | None = None
    ) -> Memory: ...

    def hypergradient(
        self, update: LevelUpdate, phi: jax.Array, memory: Memory, grads: Any, with_norms: bool
    ) -> tuple[jax.Array, jax.Array | None]: ...

    def step(
        self,
        update: LevelUpdate,
        phi: jax.Array,
        grads: Any,
        rule_state: Any,
        params: Any,
        memory: Memory,
        grad_fn: Callable | None,
    ) -> tuple[Any, Any, Memory]: ...
