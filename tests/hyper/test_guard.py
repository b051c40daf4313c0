"""The divergence guard alone (``l2l.hyper.guard``): the growth ratio, and the cut of a step size
by it on the second update in a row that grew by more than the limit (through a stack:
``tests/hyper/test_defaults.py``)."""

import jax.numpy as jnp
import numpy as np

from l2l.hyper import guard, reparam


def test_growth_is_the_ratio_of_gradient_norms_and_1_before_there_are_two():
    np.testing.assert_allclose(guard.growth(jnp.asarray(6.0), jnp.asarray(2.0), 3), 3.0)
    assert float(guard.growth(jnp.asarray(6.0), jnp.asarray(0.0), 0)) == 1.0  # First update.
    assert float(guard.growth(jnp.asarray(jnp.inf), jnp.asarray(2.0), 3)) == 1.0
    np.testing.assert_allclose(guard.growth(jnp.asarray(6.0), jnp.asarray(0.0), 3), 6.0)


def test_the_step_size_is_divided_by_the_growth_when_it_grew_twice_in_a_row():
    """alpha -> alpha / r in each parameterization of a step size, only when r_{t-1} and r_t both
    exceed the limit; never out of the parameterization's box."""
    for name in ("log", "raw", "sqrt"):
        parameterization = reparam.REPARAMETERIZATIONS[name]
        phi = jnp.asarray(parameterization.inverse(0.5), jnp.float32)
        for previous, now, fires in [(3.0, 4.0, True), (1.5, 4.0, False), (3.0, 1.5, False)]:
            cut, fired = guard.cut_step_size(phi, parameterization, jnp.asarray(now), previous, 2.0)
            assert bool(fired) == fires
            expected = 0.5 / now if fires else 0.5
            np.testing.assert_allclose(parameterization.forward(cut), expected, rtol=1e-6)
    log = reparam.REPARAMETERIZATIONS["log"]
    cut, _ = guard.cut_step_size(jnp.asarray(-68.0), log, jnp.asarray(1e30), 3.0, 2.0)
    assert float(cut) == -69.0  # Projected into the box.
