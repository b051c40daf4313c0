"""Settings for the whole suite, made before any test compiles anything, and the oracles that
tests in several directories share (as fixtures).

XLA compilation is most of the suite's time, and many tests compile the same program again (a
resumed meta-training run, the same tiny task under another test's closure). JAX's persistent
compilation cache, in a directory of this process's own (each xdist worker has one, so no two
processes write an entry at once) that is removed at exit, compiles each distinct program once per
process; the subprocesses that tests start (the examples, the CLI) inherit it. A cached executable
is the one a fresh compile gives: no number changes. Measured on the 2-core CPU (a shared machine
whose runs of the same suite vary by a sixth): 504 s without it, 397-464 s with it in four runs.

Tried and not kept: one directory shared by both workers (it needs JAX's size cap for the file
lock, and the cap makes every write scan the directory: slower than compiling twice);
``--xla_llvm_disable_expensive_passes`` (20 % off two test files run alone, nothing measurable on
the whole suite); ``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` (a third off, but a NaN gradient in the
float64 batch-norm conv test).
"""

import atexit
import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

_SETTINGS = {
    "jax_compilation_cache_dir": tempfile.mkdtemp(prefix="l2l-tests-xla-cache-"),
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
atexit.register(shutil.rmtree, _SETTINGS["jax_compilation_cache_dir"], ignore_errors=True)
for name, value in _SETTINGS.items():
    os.environ[name.upper()] = str(value)  # For the subprocesses.
    jax.config.update(name, value)


def _quadratic_updates(optimizer, steps):
    """The updates of ``steps`` steps on a small quadratic 0.5 sum(h p^2), from fixed params, and
    the last state (``grad_fn`` passed, for the rules that take it)."""
    params = {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.asarray([0.3, -0.7])}
    curvature = {"w": jnp.asarray([[1.0, 3.0], [0.5, 2.0]]), "b": jnp.asarray([4.0, 0.1])}

    def grad_fn(p):
        return jax.tree.map(lambda h, x: h * x, curvature, p)

    optimizer = optax.with_extra_args_support(optimizer)
    state = optimizer.init(params)
    out = []
    for _ in range(steps):
        updates, state = optimizer.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return out, state


@pytest.fixture
def quadratic_updates():
    """``quadratic_updates(optimizer, steps) -> (updates of each step, last state)``: two
    optimizers built two ways are the same when these are."""
    return _quadratic_updates


def _tiny_mlp_task():
    """An MLP on 64 random 5-d points, 10 classes: leaves of 3, 15, 10 and 30 coordinates (two
    matrices, two biases), minibatches of 8. Its data take the dtype of the context it is built
    in (float64 under ``jax.enable_x64``)."""
    from l2l.tasks import MLPClassifier  # l2l after the settings above: nothing compiles first

    rng = np.random.default_rng(0)
    return MLPClassifier(
        jnp.asarray(rng.uniform(size=(64, 5))),
        jnp.asarray(rng.integers(0, 10, 64), jnp.int32),
        hidden_sizes=(3,),
        batch_size=8,
    )


@pytest.fixture
def tiny_mlp_task():
    return _tiny_mlp_task


def _fast_path_against_vmap(task, cfg, *, batch, steps, remat, second_derivatives=True):
    """``batch_unroll.unroll`` (the learned optimizer's fast path) against ``jax.vmap`` of
    ``unroll.unroll`` with ``cfg.optimizer``: the carried states, the losses and the
    meta-gradient, in float64 (rtol 1e-9), with or without second derivatives through the
    optimizee's gradients. Returns the fast path's (state, losses, meta-gradient)."""
    from l2l import unroll as unroll_lib
    from l2l.meta import batch_unroll

    with jax.enable_x64(True):
        meta = cfg.init_meta_params(jax.random.key(0))
        meta = jax.tree.map(lambda a: a.astype(jnp.float64), meta)
        keys = jax.random.split(jax.random.key(1), 3 * batch).reshape(batch, 3)
        instances = jax.vmap(task.sample)(keys[:, 0])
        start = jax.vmap(lambda i, k: unroll_lib.start(cfg.optimizer(meta), task, i, k))(
            instances, keys[:, 1]
        )
        start = jax.tree.map(
            lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, start
        )
        first_order = not second_derivatives

        def reference(mp):
            opt = cfg.optimizer(mp)
            return jax.vmap(
                lambda i, s, k: unroll_lib.unroll(
                    opt, task, i, s, k, steps, stop_gradient_inputs=first_order
                )
            )(instances, start, keys[:, 2])

        def ours(mp):
            return batch_unroll.unroll(
                mp,
                cfg,
                task,
                instances,
                start,
                keys[:, 2],
                steps,
                stop_gradient_inputs=first_order,
                remat=remat,
            )

        def with_gradient(fn):
            (state, losses), vjp = jax.vjp(fn, meta)
            return state, losses, vjp((jax.tree.map(jnp.zeros_like, state), jnp.ones_like(losses)))

        got, want = jax.jit(lambda: (with_gradient(ours), with_gradient(reference)))()
    assert jax.tree.structure(got) == jax.tree.structure(want)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), got, want)
    return got


@pytest.fixture
def fast_path_against_vmap():
    """``fast_path_against_vmap(task, cfg, *, batch, steps, remat, second_derivatives=True)``."""
    return _fast_path_against_vmap
