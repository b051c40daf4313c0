import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned
from l2l import unroll as unroll_lib
from l2l.learned import FeatureConfig, LSTMOptimizerConfig
from l2l.meta import batch_unroll
from l2l.tasks import MLPClassifier, Quadratic


def _mlp_task():
    rng = np.random.default_rng(0)
    return MLPClassifier(
        jnp.asarray(rng.uniform(size=(64, 5))),
        jnp.asarray(rng.integers(0, 10, 64), jnp.int32),
        hidden_sizes=(3,),
        batch_size=8,
    )


def _compare(task, cfg, batch=3, steps=3, remat=False):
    """batch_unroll.unroll against jax.vmap of unroll.unroll with learned.lstm_optimizer: the
    states, the losses and the meta-gradient (second derivatives included), in float64."""
    with jax.enable_x64(True):
        meta = jax.tree.map(
            lambda a: a.astype(jnp.float64), learned.init_meta_params(jax.random.key(0), cfg)
        )
        keys = jax.random.split(jax.random.key(1), 3 * batch).reshape(batch, 3)
        instances = jax.vmap(task.sample)(keys[:, 0])
        start = jax.vmap(
            lambda i, k: unroll_lib.start(learned.lstm_optimizer(meta, cfg), task, i, k)
        )(instances, keys[:, 1])
        start = jax.tree.map(
            lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, start
        )

        def reference(mp):
            opt = learned.lstm_optimizer(mp, cfg)
            return jax.vmap(lambda i, s, k: unroll_lib.unroll(opt, task, i, s, k, steps))(
                instances, start, keys[:, 2]
            )

        def ours(mp):
            return batch_unroll.unroll(
                mp, cfg, task, instances, start, keys[:, 2], steps, remat=remat
            )

        def with_gradient(fn):
            (state, losses), vjp = jax.vjp(fn, meta)
            return state, losses, vjp((jax.tree.map(jnp.zeros_like, state), jnp.ones_like(losses)))

        got, want = jax.jit(lambda: (with_gradient(ours), with_gradient(reference)))()
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), got, want)
    return got


@pytest.mark.parametrize("kind", sorted(learned.FEATURES))
def test_batch_unroll_equals_the_vmapped_unroll_for_every_feature_kind(kind):
    cfg = LSTMOptimizerConfig(
        hidden_sizes=(4, 3), features=FeatureConfig(kind=kind), output_init_scale=0.3
    )
    state, losses, _ = _compare(Quadratic(dim=3), cfg, remat=kind == "log_sign")
    assert losses.shape == (3, 3) and int(state.step[0]) == 3


def test_batch_unroll_on_a_minibatch_task_with_several_parameter_leaves():
    """MLP parameters are a pytree of several arrays; the minibatch of step t is drawn by t."""
    cfg = LSTMOptimizerConfig(hidden_sizes=(3,), output_init_scale=0.3)
    _compare(_mlp_task(), cfg, batch=2, steps=2)
