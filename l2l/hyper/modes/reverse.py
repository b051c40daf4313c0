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

The update is re-run without the parameters it was made at (``params=None``): the rules of a level
read only the gradient and their own state. A rule that reads the parameters (weight decay) would
need them kept too.

Cost per update: the previous update and its vector-Jacobian product evaluated again (and its k
tangents, for normalized hypergradients); memory: one gradient and one rule state, whatever k.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.hyper._trees import like, stacked_norms
from l2l.hyper.modes.forward import step_and_tangent
from l2l.hyper.modes.mode import Memory


class Reverse(NamedTuple):
    """One-step hypergradients by reverse mode (see the module docstring)."""

    discounted = False
    needs_grad_fn = False

    def above(self):
        return self

    def init(self, phi, params, rule_state):
        del phi
        return Memory((), (), rule_state, optax.tree.zeros_like(params))

    def hypergradient(self, update, phi, memory, grads, with_norms):
        """The vector-Jacobian product of the last update, re-run, with ``grads``."""

        def previous_update(raw_vector):
            return update(raw_vector, memory.previous_grad, memory.previous_rule_state, None)

        step, vjp, _ = jax.vjp(previous_update, phi, has_aux=True)
        (hypergradient,) = vjp(jax.tree.map(lambda g, s: jnp.asarray(g, s.dtype), grads, step))
        norms = None
        if with_norms:
            _, _, tangent = step_and_tangent(
                update, phi, memory.previous_grad, memory.previous_rule_state, None
            )
            norms = stacked_norms(tangent)
        return hypergradient, norms

    def step(self, update, phi, grads, rule_state, params, memory, grad_fn):
        del grad_fn
        step, new_rule_state = update(phi, grads, rule_state, params)
        return step, new_rule_state, Memory((), (), rule_state, like(grads, memory.previous_grad))
