import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned
from l2l.learned import FeatureConfig, LearnedOptimizerFileError, LSTMOptimizerConfig


@pytest.fixture
def saved(tmp_path):
    cfg = LSTMOptimizerConfig(
        hidden_sizes=(5, 3),
        features=FeatureConfig(kind="log_sign", p=7.0),
        output_scale=0.1,
        output_init_scale=0.2,
    )
    meta = learned.init_meta_params(jax.random.key(3), cfg)
    path = learned.save(tmp_path / "opt.l2l", meta, cfg, {"trained_on": "test", "score": 1.5})
    return path, meta, cfg


def test_round_trip_gives_the_same_optimizer(saved):
    path, meta, cfg = saved
    back = learned.read(path)
    assert back.config == cfg and back.info == {"trained_on": "test", "score": 1.5}
    jax.tree.map(np.testing.assert_array_equal, back.meta_params, meta)
    params = {"a": jnp.linspace(-1, 1, 7), "b": jnp.ones((2, 2))}
    grads = jax.tree.map(lambda x: 0.3 * x + 0.01, params)
    ours = learned.lstm_optimizer(meta, cfg)
    loaded = learned.load(path)
    u1, _ = ours.update(grads, ours.init(params), params)
    u2, _ = loaded.update(grads, loaded.init(params), params)
    jax.tree.map(np.testing.assert_array_equal, u1, u2)


def test_truncated_file_is_a_clear_error(saved, tmp_path):
    path, _, _ = saved
    raw = path.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 3):
        bad = tmp_path / f"cut{cut}.l2l"
        bad.write_bytes(raw[:cut])
        with pytest.raises(
            LearnedOptimizerFileError, match=f"cut{cut}.l2l.*(truncated|corrupt|format)"
        ):
            learned.read(bad)


def test_wrong_files_are_clear_errors(saved, tmp_path):
    from flax import serialization

    other = tmp_path / "other.l2l"
    other.write_bytes(serialization.msgpack_serialize({"hello": 1}))
    with pytest.raises(LearnedOptimizerFileError, match="not an l2l learned-optimizer file"):
        learned.read(other)
    path, _, _ = saved
    payload = serialization.msgpack_restore(path.read_bytes())
    payload["version"] = 99
    other.write_bytes(serialization.msgpack_serialize(payload))
    with pytest.raises(LearnedOptimizerFileError, match="version 99"):
        learned.read(other)
    payload["version"] = 1
    payload["config"]["hidden_sizes"] = [4, 3]  # weights no longer fit the config
    other.write_bytes(serialization.msgpack_serialize(payload))
    with pytest.raises(LearnedOptimizerFileError, match="do not match the config"):
        learned.read(other)
    payload["config"]["hidden_sizes"] = [5, 3]
    payload["config"]["colour"] = "red"
    other.write_bytes(serialization.msgpack_serialize(payload))
    with pytest.raises(LearnedOptimizerFileError, match="unknown key 'config.colour'"):
        learned.read(other)
    with pytest.raises(LearnedOptimizerFileError, match="missing.l2l: no such"):
        learned.read(tmp_path / "missing.l2l")


def test_unknown_pretrained_name_lists_known_ones():
    with pytest.raises(KeyError, match="no trained optimizer named 'nope' in the zoo.* Known: "):
        learned.pretrained("nope")
