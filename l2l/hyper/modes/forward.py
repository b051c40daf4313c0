r"""``mode='forward'`` (the default): one-step hypergradients by forward-mode differentiation.

The one-step hypergradient is the derivative of :math:`f(\theta_t)` with respect to the
hyperparameters through the last update only, :math:`\theta_t = \theta_{t-1} + u(g_{t-1},
s_{t-2};\, T(\phi))` (the weights, the gradient and the rule's state taken as constants,
:math:`\phi` not):

.. math::
  \frac{\partial f(\theta_t)}{\partial \phi}
    = g_t \cdot J_{t-1}, \qquad
  J_{t-1} = \frac{\partial u(g_{t-1}, s_{t-2};\, T(\phi))}{\partial \phi},
  \qquad g_t = \nabla f(\theta_t).

Forward mode makes each update together with its tangent :math:`J_{t-1}`: one ``jax.jvp`` per
learned value, compiled with the update, and keeps it; the next gradient's inner product with it is
the hypergradient. For SGD with a raw step size, :math:`J_{t-1} = -g_{t-1}` and the hypergradient is
Baydin's :math:`-g_t \cdot g_{t-1}`; learned as :math:`\phi = \log\alpha` it is :math:`-\alpha\, g_t
\cdot g_{t-1}`.

Cost per update: the rule's k tangents, one ``jvp`` each; memory: the k tangents (k copies
of the level's parameters).

References:
  Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation with
  Hypergradient Descent*, ICLR 2018; Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The
  Ultimate Optimizer*, NeurIPS 2022.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from l2l.hyper._trees import contract, like, stacked_norms, stacked_zeros
from l2l.hyper.modes.mode import Memory


def step_and_tangent(update, phi, grads, rule_state, params):
    r"""``(step, new rule state, d step / d phi)`` of ``update(phi, grads, rule_state, params)``;
    the tangent has a leading axis of k.

    Where ``update`` takes ``phi`` as a tuple of its k scalars (``update.takes_coordinates``, as
    ``Level.raw_update`` does), one ``jvp`` per learned value, each with a tangent on its own
    coordinate only: the other k - 1 carry symbolic zeros and cost nothing, and each tangent is
    written into its row of the result in place. Otherwise one ``jvp`` of the vector ``vmap`` ped
    over the basis of :math:`\mathbb{R}^k`, which evaluates every tangent path for every basis
    vector (k times the tangent work, and slower still as XLA compiles it on a CPU)."""
    if not getattr(update, "takes_coordinates", False):
        return _vmapped_step_and_tangent(update, phi, grads, rule_state, params)
    scalars = tuple(phi[j] for j in range(phi.shape[0]))
    stacked = None
    for j, value in enumerate(scalars):

        def of_coordinate(x, j=j):
            coordinates = tuple(x if i == j else other for i, other in enumerate(scalars))
            return update(coordinates, grads, rule_state, params)

        step, tangent, new_state = jax.jvp(
            of_coordinate, (value,), (jnp.ones_like(value),), has_aux=True
        )
        if stacked is None:
            stacked = stacked_zeros(tangent, len(scalars))
        stacked = jax.tree.map(lambda rows, row, j=j: rows.at[j].set(row), stacked, tangent)
    return step, new_state, like(stacked, step)


def _vmapped_step_and_tangent(update, phi, grads, rule_state, params):
    """``step_and_tangent`` by one ``jvp`` carrying all k tangents at once (``vmap``)."""

    def of_phi(raw_vector):
        return update(raw_vector, grads, rule_state, params)

    basis = jnp.eye(phi.shape[0], dtype=phi.dtype)
    step, tangent, new_state = jax.vmap(
        lambda e: jax.jvp(of_phi, (phi,), (e,), has_aux=True),
        out_axes=(None, 0, None),
    )(basis)
    return step, new_state, like(tangent, step)


class Forward(NamedTuple):
    """One-step hypergradients by forward mode (see the module docstring)."""

    discounted = False
    needs_grad_fn = False

    def above(self):
        return self

    def init(self, phi, params, rule_state, update=None):
        del rule_state, update
        return Memory(stacked_zeros(params, phi.shape[0]), (), (), ())

    def hypergradient(self, update, phi, memory, grads, with_norms):
        r""":math:`g_t \cdot J_{t-1}`, and :math:`(\lVert J_j \rVert)_j` ``with_norms``."""
        del update, phi
        hypergradient = contract(grads, memory.tangent)
        return hypergradient, (stacked_norms(memory.tangent) if with_norms else None)

    def step(self, update, phi, grads, rule_state, params, memory, grad_fn):
        del grad_fn
        step, rule_state, tangent = step_and_tangent(update, phi, grads, rule_state, params)
        return step, rule_state, memory._replace(tangent=tangent)
