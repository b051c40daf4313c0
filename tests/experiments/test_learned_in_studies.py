"""A saved learned optimizer goes through both experiments (responses, surfaces) from a config
entry {kind: learned}."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from l2l import config as config_lib
from l2l import learned
from l2l.config import ConfigError
from l2l.experiments import responses, surfaces
from l2l.experiments.responses import ResponseFigureConfig, make_signals
from l2l.specs import LearnedSpec


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small untrained LSTM optimizer, output scale 0.5 so its steps are visible, on disk."""
    config = learned.LSTMOptimizerConfig(hidden_sizes=(4,), output_scale=0.5, output_init_scale=1.0)
    meta_params = learned.init_meta_params(jax.random.key(3), config)
    path = tmp_path_factory.mktemp("zoo") / "tiny.l2l"
    learned.save(path, meta_params, config)
    return path, learned.lstm_optimizer(meta_params, config)


def test_learned_responses_equal_its_updates_fed_the_signal(saved):
    path, transform = saved
    spec = LearnedSpec(path=str(path))
    assert spec.display_label == "tiny"
    figure = ResponseFigureConfig(name="lstm", optimizers=(spec,))
    cfg = responses.Config(steps=25, signals=("rectangles",), figures=(figure,))
    curve = responses.run(cfg).figures["lstm"][0]
    assert (curve.kind, curve.label, curve.optimizer) == ("learned", "tiny", str(path))
    # By hand: feed the transform the signal on a scalar parameter held at 0.
    signal = make_signals(("rectangles",), 25)["rectangles"]
    params = jnp.zeros(())
    state = transform.init(params)
    update = jax.jit(transform.update)
    expected = []
    for g in signal:
        updates, state = update(jnp.asarray(g), state, params)
        expected.append(-float(updates))
    np.testing.assert_allclose(curve.responses["rectangles"], expected, rtol=1e-5, atol=1e-7)
    assert np.std(expected) > 1e-3  # It does respond.


def test_learned_optimizer_races_like_applying_its_updates(saved):
    path, transform = saved
    cfg = surfaces.Config(
        surfaces=("simple_quad",),
        steps=8,
        optimizers=(LearnedSpec(path=str(path), label="LSTM"),),
    )
    entry = surfaces.run(cfg).races["simple_quad"]["LSTM"]
    w = jnp.asarray([-2.8, -2.5])
    state = transform.init(w)
    update = jax.jit(transform.update)
    expected = [np.asarray(w)]
    for _ in range(8):
        updates, state = update(2 * w, state, w)  # grad of x^2 + y^2
        w = optax.apply_updates(w, updates)
        expected.append(np.asarray(w))
    np.testing.assert_allclose(entry.trajectory, np.array(expected), rtol=1e-5, atol=1e-6)


def test_learned_entries_are_checked_when_the_config_loads(tmp_path, saved):
    path, _ = saved
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"figures: [{{name: a, optimizers: [{{kind: learned, path: {path}}}], "
                   "sweep: {lr: [0.1]}}]\n")  # fmt: skip
    with pytest.raises(ConfigError, match="has no optimizer to sweep"):
        config_lib.load(responses.Config, bad)
    bad.write_text(f"optimizers: [{{kind: learned, path: {path}, name: adam}}]\n")
    with pytest.raises(ConfigError, match="unknown key 'optimizers.0.name'"):
        config_lib.load(surfaces.Config, bad)
    broken = tmp_path / "broken.l2l"
    broken.write_bytes(b"not msgpack at all")
    bad.write_text(f"optimizers: [{{kind: learned, path: {broken}}}]\n")
    with pytest.raises(ConfigError, match="optimizers.0.*broken.l2l"):
        config_lib.load(surfaces.Config, bad)
