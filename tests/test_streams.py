"""Streams that share nothing: for the shipped configs, the keys of meta-training (initial weights,
every meta-step's instances and the first minibatch keys of each, the estimators' noise), of
early stopping, of the evaluation protocol's tuning and held-out instances, and of the benchmark's
tuning and reported instances, collected at every depth the code draws them (for a task
distribution, each member's as a stream of its own); no key of one stream equals a key (so
neither a parent nor a child) of another."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from l2l import unroll
from l2l.config import load
from l2l.experiments import benchmark, meta_train
from l2l.experiments.benchmark_suite import run_keys
from l2l.meta import distribution
from l2l.meta import step as meta_step
from l2l.tasks import DistributionConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
META_CONFIGS = sorted(
    p.stem
    for p in CONFIGS.glob("*.yaml")
    if p.stem.endswith(("_lstm", "_lopt")) or p.stem == "zero_machine"
)
FIRST_STEPS = 3  # minibatch keys kept per instance (each is fold_in(stream key, t))
#: The seeds the documented runs of each task-distribution config use (docs/general_lopt.md).
DISTRIBUTION_SEEDS = {"general_mlp_lopt": (1, 2, 3)}


def _padded(x: jax.Array) -> jax.Array:
    """``x`` with its last row repeated up to a power of 2 rows: the jitted helpers below then
    compile for a few lengths, not one each (a repeated row adds no key)."""
    n = 1 << max(0, int(x.shape[0]) - 1).bit_length()
    return jnp.concatenate([x, jnp.repeat(x[-1:], n - x.shape[0], axis=0)])


@jax.jit
def _first_step_keys_jit(streams: jax.Array) -> jax.Array:
    first = jnp.arange(FIRST_STEPS)
    return jax.vmap(lambda k: jax.vmap(lambda t: unroll.step_key(k, t))(first))(streams)


def _first_step_keys(streams: jax.Array) -> jax.Array:
    return _first_step_keys_jit(_padded(streams))


@jax.jit
def _noise_keys_jit(seed: int, steps: jax.Array) -> jax.Array:
    return jax.vmap(lambda s: meta_step.noise_key(seed, s))(steps)


def _noise_keys(seed: int, steps: jax.Array) -> jax.Array:
    return _noise_keys_jit(seed, _padded(steps))


@functools.partial(jax.jit, static_argnums=(2,))
def _batch_keys_jit(seed: int, starts: jax.Array, batch_size: int) -> jax.Array:
    return jax.vmap(lambda s: meta_step.batch_keys(seed, s, batch_size))(starts)


def _batch_keys(seed: int, starts: jax.Array, batch_size: int) -> jax.Array:
    """Each fresh meta-training batch's instance keys, (len(starts) x batch_size, 3)."""
    return _batch_keys_jit(seed, _padded(starts), batch_size).reshape(-1, 3)


class Keys:
    """Every key seen, by the stream that drew it (NumPy sets of the raw key bits)."""

    def __init__(self):
        self.streams: dict[str, list[np.ndarray]] = {}

    def add(self, keys: jax.Array, stream: str) -> None:
        data = np.asarray(jax.random.key_data(keys), np.uint64).reshape(-1, 2)
        self.streams.setdefault(stream, []).append((data[:, 0] << np.uint64(32)) | data[:, 1])

    def add_instances(self, keys: jax.Array, stream: str) -> None:
        """Instance keys (n, 3): themselves and the first minibatch keys of their streams."""
        self.add(keys, stream)
        self.add(_first_step_keys(keys[:, 2]), stream)

    def check(self) -> None:
        """Each stream's keys deduplicated, then all of them sorted together: a key two streams
        share is two equal neighbours from different streams."""
        names = sorted(self.streams)
        values, owners = [], []
        for i, name in enumerate(names):
            mine = np.sort(np.concatenate(self.streams[name]))
            mine = mine[np.concatenate([[True], mine[1:] != mine[:-1]])]
            values.append(mine)
            owners.append(np.full(mine.size, i))
        every, owner = np.concatenate(values), np.concatenate(owners)
        order = np.argsort(every, kind="stable")
        every, owner = every[order], owner[order]
        same = np.nonzero(every[1:] == every[:-1])[0]  # only across streams, after the dedupe
        pairs = sorted({(names[owner[k]], names[owner[k + 1]]) for k in same})
        assert not pairs, f"streams share keys: {pairs[:5]} ({same.size} keys in all)"


@functools.partial(jax.jit, static_argnums=(2,))
def _member_batch_keys_jit(stream: jax.Array, starts: jax.Array, batch_size: int) -> jax.Array:
    return jax.vmap(
        lambda s: unroll.split_instance_keys(jax.random.fold_in(stream, s), batch_size)
    )(starts)


@jax.jit
def _folded_jit(key: jax.Array, steps: jax.Array) -> jax.Array:
    return jax.vmap(lambda s: jax.random.fold_in(key, s))(steps)


def _add_distribution(keys: "Keys", cfg: meta_train.Config, seed: int) -> None:
    """A task-distribution run under ``seed``: the schedule's key, and for each member every
    batch it could draw in ``meta_steps`` meta-steps (it takes at most that many), their
    instances, and its noise keys; its initial weights and validation instances."""
    keys.add(meta_step.meta_init_key(seed)[None], "meta_init")
    keys.add(unroll.stream_key(seed, "meta_schedule")[None], "meta_schedule")
    keys.add(unroll.stream_key(seed, "meta_members")[None], "meta_members")
    for i in range(len(cfg.task.members)):
        member = distribution.member_config(cfg, i)
        train, noise = distribution.member_streams(seed, i)
        starts = _padded(jnp.arange(0, cfg.meta_steps, member.truncations_per_horizon))
        keys.add(_folded_jit(train, starts), f"member_{i}")
        batches = _member_batch_keys_jit(train, starts, member.batch_size)
        keys.add_instances(batches.reshape(-1, 3), f"member_{i}")
        keys.add(_folded_jit(noise, _padded(jnp.arange(cfg.meta_steps))), f"member_{i}_noise")
        keys.add(jnp.stack([train, noise]), f"member_{i}")
    keys.add_instances(
        unroll.instance_keys(seed, unroll.VALIDATION_SET, cfg.eval_instances), "validation"
    )


def _meta_settings(name: str) -> tuple | None:
    cfg = load(meta_train.Config, CONFIGS / f"{name}.yaml", [])
    if isinstance(cfg.task, DistributionConfig):
        return None  # its members' streams: _add_distribution
    return (
        cfg.seed,
        max(1, cfg.horizon // cfg.truncation),
        cfg.batch_size,
        cfg.meta_steps,
        cfg.eval_instances,
        cfg.tuning_instances,
        cfg.test_instances,
    )


def test_meta_training_evaluation_and_benchmark_streams_share_no_key():
    """Every shipped meta-training config (their distinct key settings), its evaluation, and the
    benchmark, under each config's seed: no key shared between two streams."""
    settings = sorted({_meta_settings(name) for name in META_CONFIGS} - {None})
    assert len(META_CONFIGS) >= 8
    keys = Keys()
    for name, seeds in DISTRIBUTION_SEEDS.items():
        cfg = load(meta_train.Config, CONFIGS / f"{name}.yaml", [])
        for seed in seeds:
            _add_distribution(keys, cfg, seed)
            for stream, values in _benchmark_keys(seed).items():
                keys.streams.setdefault(stream, []).extend(values)
    for seed, per_horizon, batch_size, meta_steps, eval_n, tuning_n, test_n in settings:
        keys.add(meta_step.meta_init_key(seed)[None], "meta_init")
        # Every fresh batch of meta-training (one per horizon), and its instances.
        starts = jnp.arange(0, meta_steps, per_horizon)
        train_key = unroll.stream_key(seed, "meta_train")
        keys.add(jax.vmap(lambda s, k=train_key: jax.random.fold_in(k, s))(starts), "meta_train")
        keys.add_instances(_batch_keys(seed, starts, batch_size), "meta_train")
        keys.add(_noise_keys(seed, jnp.arange(meta_steps)), "noise")
        for which, stream, num in (
            (unroll.VALIDATION_SET, "validation", eval_n),
            (unroll.TUNING_SET, "tuning", tuning_n),
            (unroll.TEST_SET, "test", test_n),
        ):
            if num:
                keys.add_instances(unroll.instance_keys(seed, which, num), stream)
        for stream in ("tuning", "test", "validation", "meta_train", "meta_noise"):
            keys.add(unroll.stream_key(seed, stream)[None], stream.replace("meta_noise", "noise"))
        for stream, values in _benchmark_keys(seed).items():
            keys.streams.setdefault(stream, []).extend(values)
    keys.check()


@functools.cache
def _benchmark_keys(seed: int) -> dict[str, list[np.ndarray]]:
    """The benchmark's streams under ``seed``: its shipped suite's tuning and reported keys."""
    suite = load(benchmark.Config, CONFIGS / "benchmark.yaml", [])
    keys = Keys()
    for stream, num in (
        ("benchmark_tuning", suite.tuning_seeds),
        ("benchmark_reported", suite.seeds),
    ):
        keys.add(unroll.stream_key(seed, stream)[None], stream)
        for task in suite.suite:
            keys.add_instances(run_keys(seed, stream, task.name, num), stream)
    return keys.streams
