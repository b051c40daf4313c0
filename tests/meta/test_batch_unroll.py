import pytest

from l2l import learned
from l2l.learned import FeatureConfig, LSTMOptimizerConfig
from l2l.tasks import Quadratic


@pytest.mark.parametrize("kind", sorted(learned.FEATURES))
def test_batch_unroll_equals_the_vmapped_unroll_for_every_feature_kind(
    fast_path_against_vmap, kind
):
    cfg = LSTMOptimizerConfig(
        hidden_sizes=(4, 3), features=FeatureConfig(kind=kind), output_init_scale=0.3
    )
    state, losses, _ = fast_path_against_vmap(
        Quadratic(dim=3), cfg, batch=3, steps=3, remat=kind == "log_sign"
    )
    assert losses.shape == (3, 3) and int(state.step[0]) == 3


def test_batch_unroll_on_a_minibatch_task_with_several_parameter_leaves(
    fast_path_against_vmap, tiny_mlp_task
):
    """MLP parameters are a pytree of several arrays; the minibatch of step t is drawn by t."""
    cfg = LSTMOptimizerConfig(hidden_sizes=(3,), output_init_scale=0.3)
    fast_path_against_vmap(tiny_mlp_task(), cfg, batch=2, steps=2, remat=False)
