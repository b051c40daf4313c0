"""The streams of random keys: named top-level branches of a seed's key (a base piece: it imports
nothing of l2l, so every layer derives its keys alike).

Each stream of instances is ``fold_in(key(seed), STREAMS[name])``; no key of one stream is a key,
a parent or a child of another's (``tests/test_streams.py`` collects the keys of every shipped
config to prove it).
"""

from __future__ import annotations

import jax

#: Stream name -> its branch of the seed's key.
STREAMS = {
    "tuning": 0,  # the evaluation protocol's tuning instances
    "test": 1,  # its held-out instances
    "validation": 2,  # meta-training's early-stopping instances
    "meta_init": 3,  # a learned optimizer's initial weights
    "meta_train": 4,  # meta-training's instances (a branch per meta-step)
    "meta_noise": 5,  # the perturbations of the evolution-strategies estimators
    "meta_members": 6,  # a task distribution: member m's instances and noise (branch m)
    "meta_schedule": 7,  # a task distribution: the member each meta-step draws
    "benchmark_tuning": 16,  # l2l benchmark: the baselines' tuning instances
    "benchmark_reported": 17,  # l2l benchmark: every optimizer's reported instances
}


def stream_key(seed: int, stream: str) -> jax.Array:
    """The key of ``stream`` (a name of :data:`STREAMS`) under ``seed``."""
    return jax.random.fold_in(jax.random.key(seed), STREAMS[stream])
