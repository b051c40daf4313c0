r"""``mode='run'``: hypergradients through the whole run by forward mode, discounted by :math:`\mu`.

The weights and the rule state carry their tangents :math:`Z_t = \partial\theta_t / \partial\phi`
and :math:`S_t = \partial s_t / \partial\phi` through every update, :math:`\theta_{t+1} =
\theta_t + u(g_t, s_t;\, T(\phi))` and :math:`s_{t+1} = \sigma(g_t, s_t;\, T(\phi))` (the
rule's new state), :math:`g_t = \nabla f(\theta_t)`:

.. math::
  Z_{t+1} = \mu Z_t + \frac{\partial u}{\partial \phi}
    + \frac{\partial u}{\partial g} H_t (\mu Z_t) + \frac{\partial u}{\partial s} (\mu S_t)
    + \frac{\partial u}{\partial \theta} (\mu Z_t),
  \qquad
  S_{t+1} = \frac{\partial \sigma}{\partial \phi}
    + \frac{\partial \sigma}{\partial g} H_t (\mu Z_t)
    + \frac{\partial \sigma}{\partial s} (\mu S_t)
    + \frac{\partial \sigma}{\partial \theta} (\mu Z_t),

(the terms in :math:`\partial / \partial\theta` vanish for the classic rules, which read only the
gradient; AdamW's weight decay has :math:`\partial u / \partial\theta = -\alpha\lambda I`),
the gradient's tangent :math:`H_t Z` a Hessian-vector product (forward over reverse through
``grad_fn``, k of them, one per learned value), and the hypergradient is :math:`g_t \cdot Z_t`.
With :math:`\mu = 1` it is the exact derivative of :math:`f(\theta_t)` through the whole run
(Franceschi et al.'s RTHO, the step size held fixed); with :math:`\mu = 0`, :math:`Z_{t+1} =
\partial u / \partial\phi`, the one-step hypergradient of ``mode='forward'``; in between, a horizon
of about :math:`1 / (1 - \mu)` steps (Donini et al.'s MARTHE).

Tangents that overflowed (a diverging start) restart from zero instead of poisoning every later
hypergradient: the run's derivative is then counted from that update on (the stack skips the one
non-finite hypergradient).

A stack uses this mode at its bottom level only; the levels above it are one-step, forward. Cost
per update: forward mode's, plus k Hessian-vector products and the rule state's k tangents;
memory: k copies of the parameters and of the rule state's float leaves.

References:
  Franceschi, Donini, Frasconi & Pontil, *Forward and Reverse Gradient-Based Hyperparameter
  Optimization*, ICML 2017; Donini, Franceschi, Pontil, Majumder & Frasconi, *MARTHE: Scheduling
  the Learning Rate via Online Hypergradients*, IJCAI 2020.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from l2l.hyper._trees import all_finite, float_leaves, like, stacked_zeros
from l2l.hyper.modes.forward import Forward
from l2l.hyper.modes.mode import Memory


class WholeRun(NamedTuple):
    """Whole-run hypergradients, discounted by ``discount`` (see the module docstring)."""

    discount: float  # mu in [0, 1]: 0 one-step, 1 through the whole run.

    discounted = True
    needs_grad_fn = True

    def above(self):
        return Forward()

    def init(self, phi, params, rule_state, update=None):
        del update
        k = phi.shape[0]
        return Memory(
            stacked_zeros(params, k), tuple(stacked_zeros(float_leaves(rule_state), k)), (), ()
        )

    def hypergradient(self, update, phi, memory, grads, with_norms):
        r""":math:`g_t \cdot Z_t`: forward mode's inner product, with the whole run's tangent."""
        return Forward().hypergradient(update, phi, memory, grads, with_norms)

    def step(self, update, phi, grads, rule_state, params, memory, grad_fn):
        """The step, the new rule state, and :math:`Z_{t+1}`, :math:`S_{t+1}`."""
        leaves, treedef = jax.tree.flatten(rule_state)
        is_float = [jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in leaves]

        def of_floats(phi, g, floats, theta):
            """The update as a function of phi, the gradient, the state's float leaves and the
            parameters."""
            it = iter(floats)
            merged = [next(it) if f else x for x, f in zip(leaves, is_float, strict=True)]
            step, new_state = update(phi, g, jax.tree.unflatten(treedef, merged), theta)
            new_leaves = jax.tree.leaves(new_state)
            new_floats = [x for x, f in zip(new_leaves, is_float, strict=True) if f]
            return (step, new_floats), new_state

        alive = all_finite((memory.tangent, memory.state_tangent))
        z = jax.tree.map(
            lambda t: jnp.where(alive, self.discount * t, 0.0).astype(t.dtype), memory.tangent
        )
        s = [jnp.where(alive, self.discount * t, 0.0).astype(t.dtype) for t in memory.state_tangent]
        hvp = getattr(grad_fn, "hvp", None)  # Given by the caller (``hvp_fn``): no re-run.
        if hvp is None:

            def hvp(zj):
                return jax.jvp(grad_fn, (params,), (zj,))[1]

        hz = jax.vmap(lambda zj: like(hvp(zj), grads))(z)
        floats = [x for x, f in zip(leaves, is_float, strict=True) if f]
        reads_params = getattr(update, "reads_params", True)  # + du/dtheta (mu Z_t): weight decay.
        if getattr(update, "takes_coordinates", False):
            step, dstep, dfloats, new_state = _along_each_coordinate(
                of_floats, phi, grads, floats, params, hz, s, z, reads_params
            )
        else:
            step, dstep, dfloats, new_state = _along_the_basis(
                of_floats, phi, grads, floats, params, hz, s, z, reads_params
            )
        tangent = jax.tree.map(lambda zj, dj: zj + dj.astype(zj.dtype), z, dstep)
        state_tangent = tuple(like(dfloats, list(memory.state_tangent)))
        return step, new_state, Memory(tangent, state_tangent, (), ())


def _along_the_basis(of_floats, phi, grads, floats, params, hz, s, z, reads_params):
    """The k tangents of the update by one ``jvp`` ``vmap`` ped over the basis of R^k (and the
    rows of ``hz``, ``s``, ``z``)."""
    basis = jnp.eye(phi.shape[0], dtype=phi.dtype)

    def jvp(e, hzj, sj, zj):
        if reads_params:
            primals, tangents = (phi, grads, floats, params), (e, hzj, sj, like(zj, params))
            return jax.jvp(of_floats, primals, tangents, has_aux=True)
        return jax.jvp(
            lambda p, g, f: of_floats(p, g, f, params),
            (phi, grads, floats),
            (e, hzj, sj),
            has_aux=True,
        )

    (step, _), (dstep, dfloats), new_state = jax.vmap(jvp, out_axes=((None, None), (0, 0), None))(
        basis, hz, s, z
    )
    return step, dstep, dfloats, new_state


def _along_each_coordinate(of_floats, phi, grads, floats, params, hz, s, z, reads_params):
    """The k tangents of the update, one ``jvp`` each, the tangent of phi on its own coordinate
    only (``phi`` given as the tuple of its scalars; the others carry symbolic zeros), each row
    written in place (see ``forward.step_and_tangent``)."""
    scalars = tuple(phi[j] for j in range(phi.shape[0]))
    rows = None
    for j, value in enumerate(scalars):

        def of_coordinate(x, g, f, theta, j=j):
            coordinates = tuple(x if i == j else other for i, other in enumerate(scalars))
            return of_floats(coordinates, g, f, theta)

        row = jax.tree.map(lambda t, j=j: t[j], (hz, s, z))
        hzj, sj, zj = row
        if reads_params:
            primals = (value, grads, floats, params)
            tangents = (jnp.ones_like(value), hzj, sj, like(zj, params))
            (step, _), (dstep, dfloats), new_state = jax.jvp(
                of_coordinate, primals, tangents, has_aux=True
            )
        else:
            (step, _), (dstep, dfloats), new_state = jax.jvp(
                lambda x, g, f, j=j: of_coordinate(x, g, f, params, j=j),
                (value, grads, floats),
                (jnp.ones_like(value), hzj, sj),
                has_aux=True,
            )
        if rows is None:
            rows = stacked_zeros((dstep, dfloats), len(scalars))
        rows = jax.tree.map(lambda r, x, j=j: r.at[j].set(x), rows, (dstep, dfloats))
    return step, rows[0], rows[1], new_state
