"""Task kind ``mix``: members of any kinds side by side, loss the sum of theirs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import config as config_lib
from l2l.tasks import MixConfig, QuadraticConfig, SeparableQuadraticConfig


def _mix():
    return config_lib.from_dict(
        MixConfig,
        {"members": [{"kind": "quadratic", "dim": 4}, {"kind": "separable_quadratic", "dim": 3}]},
    )


def test_the_mixture_is_its_members_side_by_side():
    """Instances, params and losses are the members' own, drawn from split keys; the loss is the
    sum; each member's gradient is what it is alone (no shared parameters)."""
    cfg = _mix()
    assert isinstance(cfg.members[0], QuadraticConfig)
    assert isinstance(cfg.members[1], SeparableQuadraticConfig)
    mix, alone = cfg.build(), [m.build() for m in cfg.members]
    key = jax.random.key(3)
    instance = mix.sample(key)
    params = mix.init(jax.random.key(4), instance)
    sample_keys = jax.random.split(key, 2)
    init_keys = jax.random.split(jax.random.key(4), 2)
    losses = []
    for i, task in enumerate(alone):
        own = task.sample(sample_keys[i])
        jax.tree.map(np.testing.assert_array_equal, instance[i], own)
        np.testing.assert_array_equal(params[i], task.init(init_keys[i], own))
        losses.append(task.loss(params[i], own, jax.random.fold_in(key, i)))
        np.testing.assert_allclose(
            jax.grad(mix.loss)(params, instance, key)[i],
            jax.grad(task.loss)(params[i], own, jax.random.fold_in(key, i)),
            rtol=1e-6,
        )
    np.testing.assert_allclose(mix.loss(params, instance, key), sum(losses), rtol=1e-6)
    batched = jax.jit(jax.vmap(mix.loss, in_axes=(0, 0, None)))
    two = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, params)
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), instance, instance)
    np.testing.assert_allclose(batched(two, both, key), [sum(losses)] * 2, rtol=1e-6)


def test_mix_config_errors_name_the_key():
    with pytest.raises(config_lib.ConfigError, match="members: kind mix needs at least one"):
        config_lib.from_dict(MixConfig, {"members": []})
    with pytest.raises(config_lib.ConfigError, match="a mix cannot hold a mix"):
        config_lib.from_dict(
            MixConfig, {"members": [{"kind": "mix", "members": [{"kind": "quadratic"}]}]}
        )
    with pytest.raises(config_lib.ConfigError, match=r"members\.0\.kind.*quadratc"):
        config_lib.from_dict(MixConfig, {"members": [{"kind": "quadratc"}]})


def test_a_split_reaches_every_member_with_data():
    cfg = config_lib.from_dict(
        MixConfig, {"members": [{"kind": "quadratic"}, {"kind": "mlp"}, {"kind": "conv"}]}
    )
    moved = cfg.with_split("test")
    assert moved.members[0] is cfg.members[0]  # no data, no split
    assert [m.split for m in moved.members[1:]] == ["test", "test"]
    assert [m.split for m in cfg.members[1:]] == ["train", "train"]
