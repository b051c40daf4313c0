r"""``mode='reverse'``: the one-step hypergradients of ``mode='forward'`` by reverse mode.

The same derivative as forward mode's, through the last update only,

.. math::
  \frac{\partial f(\theta_t)}{\partial \phi}
    = g_t \cdot \frac{\partial u(g_{t-1}, s_{t-2};\, T(\phi))}{\partial \phi},

computed after the fact: the level keeps the gradient :math:`g_{t-1}` and the rule state
:math:`s_{t-2}` of its last update, and when :math:`g_t` comes, re-runs that update at
:math:`\phi` and pulls :math:`g_t` back through it (one ``jax.vjp``, cotangent :math:`g_t`). Where
the level above reads normalized hypergradients it also needs the norms of the update's tangents
:math:`\lVert \partial u / \partial \phi_j \rVert`, which it gets from one ``jvp`` of the same
re-run update (as forward mode does).

The update is re-run at the parameters it was made at where the rule reads them (weight decay,
``update.reads_params``: every rule but the classic ones), which the level then keeps too; the
classic rules read only the gradient and their own state, and are re-run with ``params=None``.

Cost per update: the previous update and its vector-Jacobian product evaluated again (and its k
tangents, for normalized hypergradients); memory: one gradient and one rule state, whatever k (and
one copy of the parameters for a rule that reads them).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.hyper._trees import like, stacked_norms
from l2l.hyper.modes.forward import step_and_tangent
from l2l.hyper.modes.mode import Memory


def _kept(memory_field) -> bool:
    """Whether a field of the memory holds something (``()``: nothing kept)."""
    return not (isinstance(memory_field, tuple) and len(memory_field) == 0)


class Reverse(NamedTuple):
    """One-step hypergradients by reverse mode (see the module docstring)."""

    discounted = False
    needs_grad_fn = False

    def above(self):
        return self

    def init(self, phi, params, rule_state, update=None):
        del phi
        keep = update is not None and getattr(update, "reads_params", True)
        previous_params = optax.tree.zeros_like(params) if keep else ()
        return Memory((), (), rule_state, optax.tree.zeros_like(params), previous_params)

    def hypergradient(self, update, phi, memory, grads, with_norms):
        """The vector-Jacobian product of the last update, re-run, with ``grads``."""

        previous_params = memory.previous_params if _kept(memory.previous_params) else None

        def previous_update(raw_vector):
            return update(
                raw_vector, memory.previous_grad, memory.previous_rule_state, previous_params
            )

        step, vjp, _ = jax.vjp(previous_update, phi, has_aux=True)
        (hypergradient,) = vjp(jax.tree.map(lambda g, s: jnp.asarray(g, s.dtype), grads, step))
        norms = None
        if with_norms:
            _, _, tangent = step_and_tangent(
                update, phi, memory.previous_grad, memory.previous_rule_state, previous_params
            )
            norms = stacked_norms(tangent)
        return hypergradient, norms

    def step(self, update, phi, grads, rule_state, params, memory, grad_fn):
        del grad_fn
        step, new_rule_state = update(phi, grads, rule_state, params)
        previous_params = ()
        if _kept(memory.previous_params):
            previous_params = like(params, memory.previous_params)
        return (
            step,
            new_rule_state,
            Memory((), (), rule_state, like(grads, memory.previous_grad), previous_params),
        )
