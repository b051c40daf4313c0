"""The benchmark's numbers against hand computations: normalized loss with its cap, VeLO's speedup,
the interquartile mean, and bootstrap intervals that are a function of their scores and seed."""

import numpy as np
import pytest

from l2l.experiments import benchmark_metrics as metrics


def test_normalized_loss_caps_divergence():
    got = metrics.normalized([0.5, 2.0, np.inf, np.nan, 1e9], 2.0)
    np.testing.assert_array_equal(got, [0.25, 1.0, metrics.CAP, metrics.CAP, metrics.CAP])


def test_speedup_is_the_first_reference_step_reaching_the_loss_over_the_horizon():
    steps, losses = [0, 10, 20, 30, 40], [5.0, 3.0, 2.0, 1.0, 0.5]
    got = metrics.speedups([2.5, 1.0, 0.1, np.inf], steps, losses, steps=20)
    # 2.5 is first reached at step 20 (loss 2), 1.0 at step 30, 0.1 never, a diverged run is 0.
    np.testing.assert_allclose(got, [1.0, 1.5, metrics.MAX_SPEEDUP, 0.0])


def test_iqm_is_the_mean_of_the_middle_half():
    x = np.random.default_rng(0).lognormal(size=(4, 10))
    middle = np.sort(x.ravel())[10:30]
    assert metrics.iqm(x) == pytest.approx(middle.mean())


def test_intervals_depend_on_the_seed_alone_and_leave_numpys_generator_alone():
    """rliable 1.2 resamples with NumPy's global generator whatever random_state it is given;
    the intervals are the same under any global state, and that state is left as it was."""
    scores = {"a": np.random.default_rng(1).random((5, 8)), "b": np.full((5, 8), 0.4)}

    def share(x):
        return np.asarray([np.mean(np.mean(x, axis=0) <= 0.5)])

    results = []
    for global_seed in (3, 99):
        np.random.seed(global_seed)
        before = np.random.get_state()[1].copy()
        point, interval = metrics.interval_estimates(scores, share, reps=300, seed=0)
        np.testing.assert_array_equal(np.random.get_state()[1], before)
        results.append(interval["a"])
        assert point["b"][0] == 1.0 and np.all(interval["b"] == 1.0)  # no spread, no interval
    np.testing.assert_array_equal(results[0], results[1])
    assert interval["a"][0, 0] <= point["a"][0] <= interval["a"][1, 0]

    # Another seed, other resamples (a continuous measure shows it).
    def mean(x):
        return np.asarray([np.mean(x)])

    one, other = (
        metrics.interval_estimates(scores, mean, reps=300, seed=s)[1]["a"] for s in (0, 1)
    )
    assert not np.array_equal(one, other)
