"""The sweep runner (``l2l.sweep``): a spec x a grid x seeds equals each run made on its own (an
``optax.contrib`` optimizer, a zoo optimizer and a stack, named through the spec), one program per
structure kept in the runner object, chunks and per-seed values, the grid's edge rule and the
tuning loop's choice."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned, specs, sweep, unroll
from l2l.tasks import QuadraticConfig

TASK = QuadraticConfig(dim=3).build()
STEPS = 8
KEYS = unroll.instance_keys(0, unroll.TEST_SET, 4)


def _alone(optimizer):
    """The oracle: the optimizer's loss curves on the instances, run on its own."""
    return unroll.run_optimizer(optimizer, TASK, KEYS, STEPS)


@pytest.mark.parametrize(
    "written, name, values",
    [
        ("prodigy", "estim_lr0", [1e-6, 1e-3]),
        ({"kind": "stack", "levels": ["adam", "sgd"]}, "learning_rate", [1e-3, 0.1]),
    ],
)
def test_a_grid_equals_each_run_alone(written, name, values):
    spec = specs.spec(written)
    runner = sweep.Runner()
    out = runner.run(spec, TASK, KEYS, STEPS, {name: values})
    assert out["curve"].shape == (2, 4, STEPS + 1)
    for v, value in enumerate(values):
        alone = _alone(spec.build(**{name: value}))
        np.testing.assert_allclose(out["curve"][v], alone, rtol=1e-5, atol=1e-7)
    assert runner.programs == 1


def test_a_zoo_optimizer_through_the_runner_is_the_optimizer_alone():
    spec = specs.spec("quadratic-lstm")
    runner = sweep.Runner()
    np.testing.assert_allclose(
        runner.run(spec, TASK, KEYS, STEPS)["curve"][0],
        _alone(learned.pretrained("quadratic-lstm")),
        rtol=1e-5,
    )
    # Its weights as a value: every trained optimizer of one architecture shares one program.
    weights = jax.tree.map(lambda x: x[None], spec.trained().meta_params)
    other = specs.spec("zero-machine")
    before = runner.programs
    runner.run(spec, TASK, KEYS, STEPS, {"meta_params": weights})
    runner.run(spec, TASK, KEYS, STEPS, {"meta_params": weights})
    assert runner.programs == before + 1
    if other.trained().config == spec.trained().config:  # pragma: no cover (zoo-dependent)
        runner.run(other, TASK, KEYS, STEPS, {"meta_params": weights})
        assert runner.programs == before + 1


def test_programs_are_shared_by_structure_and_chunks_agree():
    runner = sweep.Runner()
    a = specs.spec({"kind": "classic", "name": "momentum", "hyperparams": {"momentum": 0.9}})
    b = specs.spec({"kind": "classic", "name": "momentum", "hyperparams": {"momentum": 0.5}})
    grid = [1e-3, 1e-2, 0.1]
    whole = runner.run(a, TASK, KEYS, STEPS, {"learning_rate": grid})
    pairs = runner.run(a, TASK, KEYS, STEPS, {"learning_rate": grid}, chunk=2)
    np.testing.assert_array_equal(whole["curve"][:2], pairs["curve"][:2])
    assert runner.programs == 1
    # One value at a time runs a program without the value axis, which XLA may round apart from
    # a batch of values in the last bit.
    alone = runner.run(a, TASK, KEYS, STEPS, {"learning_rate": grid}, chunk=1)
    np.testing.assert_allclose(whole["curve"], alone["curve"], rtol=1e-6)
    np.testing.assert_array_equal(alone["curve"][1], _alone(a.build(learning_rate=grid[1])))
    assert runner.programs == 2
    runner.run(b, TASK, KEYS, STEPS, {"learning_rate": grid})  # momentum is a constant of it
    assert runner.programs == 3
    runner.run(a, TASK, KEYS, STEPS, {"learning_rate": grid, "momentum": [0.5] * 3})
    assert runner.programs == 4  # momentum traced: another structure
    with pytest.raises(ValueError, match="differ in length"):
        runner.run(a, TASK, KEYS, STEPS, {"learning_rate": grid, "momentum": [0.5]})


def test_per_seed_values_and_seed_keys():
    spec = specs.spec("sgd")
    seeds = jax.random.split(jax.random.key(3), 2)
    keys = sweep.seed_instance_keys(seeds)
    init_key, stream_key = jax.random.split(seeds[1])
    assert jnp.array_equal(
        jax.random.key_data(keys[1]),
        jax.random.key_data(jnp.stack([init_key, init_key, stream_key])),
    )
    rates = jnp.asarray([[0.01, 0.1]])  # one value, a step size per seed
    out = sweep.Runner().run(spec, TASK, keys, STEPS, {"learning_rate": rates}, per_seed=True)
    for k, rate in enumerate([0.01, 0.1]):
        alone = unroll.run_optimizer(spec.build(learning_rate=rate), TASK, keys[k : k + 1], STEPS)
        np.testing.assert_allclose(out["curve"][0, k], alone[0], rtol=1e-6)


def test_the_grid_and_its_edge_rule():
    grid = sweep.LogGrid(lr_min=1e-3, lr_max=1.0, num_lrs=4)
    np.testing.assert_allclose(grid.values, [1e-3, 1e-2, 1e-1, 1.0])
    assert [grid.at_edge(i) for i in range(4)] == [True, False, False, True]
    assert not sweep.LogGrid(lr_min=0.1, lr_max=0.1, num_lrs=1).at_edge(0)
    with pytest.raises(ValueError, match="below lr_min"):
        sweep.LogGrid(lr_min=1.0, lr_max=0.1)
    with pytest.raises(ValueError, match="set num_lrs to 1"):
        sweep.LogGrid(lr_min=0.1, lr_max=0.1, num_lrs=3)
    assert sweep.pick([3.0, np.nan, 1.0, 2.0]) == (2, False)
    assert sweep.pick([np.inf, 1.0]) == (1, True)
    with pytest.raises(RuntimeError, match="adam: every value of the grid diverged"):
        sweep.pick([np.inf, np.nan], "adam")


def test_tune_picks_the_lowest_score_of_each_value_alone():
    spec = specs.spec("sgd")
    grid = sweep.LogGrid(lr_min=1e-3, lr_max=0.3, num_lrs=4)

    def final(out):
        return float(np.mean(out["curve"][:, -1]))

    tuned = sweep.tune(spec, grid, TASK, KEYS, STEPS, score=final, runner=sweep.Runner())
    alone = [np.mean(_alone(spec.build(learning_rate=lr))[:, -1]) for lr in grid.values]
    assert tuned.best == int(np.argmin(alone)) and tuned.value == grid.values[tuned.best]
    np.testing.assert_allclose(tuned.scores, alone, rtol=1e-5)
    assert tuned.at_edge == grid.at_edge(tuned.best)
