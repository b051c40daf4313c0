"""The sweep runner: an optimizer spec x a grid of values x seeds on a task, one compiled program.

Every experiment that runs an optimizer many times does the same: for each seed, draw the task
instance and the initial point, start the optimizer, run it as one ``lax.scan``
(:func:`l2l.unroll.trajectory`), and keep a few numbers of the run; ``vmap`` that over the seeds
and over the values of a swept argument (a grid of step sizes, the bad starts of a robustness
study), and compile it once. :class:`Runner` does it for any spec (:mod:`l2l.specs`): the swept
values enter the compiled program as arguments, so every grid of one spec and horizon shares one
program, and the runner keeps its programs itself (one cache per runner object; an experiment
makes one runner and passes it wherever it runs optimizers).

What a run keeps is a :class:`Recorder`: ``observe(run, state)`` after every step (stacked along
the steps) and ``record(run, final_state, losses, observed)`` at the end, both traced inside the
program. :data:`LOSS_CURVE` keeps the loss curve f(theta_0), ..., f(theta_T), the evaluation
protocol's. Recorders are hashable (frozen dataclasses), since they are part of what a program
is compiled for.

Each run's keys are *instance keys* (:func:`l2l.unroll.instance_keys`): [sample key, init key,
minibatch-stream key]. Experiments whose seed key splits into an init key (which also draws the
instance) and a stream key pass :func:`seed_instance_keys` of their seed keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from l2l import unroll
from l2l.specs import OptimizerSpec


class RunContext(NamedTuple):
    """What a :class:`Recorder` sees of one run (traced, inside the compiled program)."""

    spec: OptimizerSpec  # the optimizer's spec (static)
    values: dict[str, Any]  # the values it was built with (this run's: one grid value, one seed)
    task: Any
    instance: Any
    start: unroll.UnrollState  # theta_0 and the fresh optimizer state
    stream_key: jax.Array  # the key of the run's minibatch stream
    extra: Any  # the runner's ``extra`` argument (e.g. a held-out split on the device)


class Recorder(Protocol):
    """What a run keeps (see the module docstring); hashable."""

    def observe(self, run: RunContext, state: unroll.UnrollState) -> Any: ...

    def record(
        self, run: RunContext, state: unroll.UnrollState, losses: jax.Array, observed: Any
    ) -> dict[str, jax.Array]: ...


class LossCurve(NamedTuple):
    """Keeps ``curve``: f(theta_0), ..., f(theta_T), each on its own step's minibatch (T + 1)."""

    def observe(self, run: RunContext, state: unroll.UnrollState) -> tuple:
        return ()

    def record(
        self, run: RunContext, state: unroll.UnrollState, losses: jax.Array, observed: Any
    ) -> dict[str, jax.Array]:
        key = run.stream_key
        first = run.task.loss(run.start.params, run.instance, unroll.step_key(key, run.start.step))
        last = run.task.loss(state.params, run.instance, unroll.step_key(key, state.step))
        return {"curve": jnp.concatenate([first[None], losses[1:], last[None]])}


#: The evaluation protocol's recorder.
LOSS_CURVE = LossCurve()


def seed_instance_keys(keys: jax.Array) -> jax.Array:
    """Seed keys (S,) -> instance keys (S, 3): each seed key split into an init key, which also
    draws the instance, and the key of its minibatch stream: [init, init, stream]."""

    def one(key: jax.Array) -> jax.Array:
        init_key, stream_key = jax.random.split(key)
        return jnp.stack([init_key, init_key, stream_key])

    return jax.vmap(one)(keys)


#: The placeholder that gives a run without swept values its value axis (of one).
_NO_VALUES = "__no_values__"


def _as_array(value: Any) -> Any:
    """A list of numbers -> one array; any other pytree -> its leaves as arrays."""
    if isinstance(value, (list, tuple)) and all(isinstance(x, (int, float)) for x in value):
        return jnp.asarray(value)
    return jax.tree.map(jnp.asarray, value)


def _as_arrays(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _as_array(v) for k, v in (values or {}).items()}


class Runner:
    """Runs optimizer specs over grids of values and seeds; owns its compiled programs.

    ``compile_seconds`` adds up the time of the first call of every program (compilation and one
    run), ``programs`` counts them."""

    def __init__(self) -> None:
        self._programs: dict[tuple, Callable] = {}
        self.compile_seconds = 0.0

    @property
    def programs(self) -> int:
        return len(self._programs)

    def _program(
        self,
        spec: OptimizerSpec,
        names: tuple[str, ...],
        steps: int,
        recorder: Recorder,
        per_seed: bool,
        batched: bool,
    ) -> tuple[Callable, bool]:
        spec = spec.at_horizon(steps)
        key = (spec.structure(names), names, steps, recorder, per_seed, batched)
        if key in self._programs:
            return self._programs[key], False

        def one(task: Any, keys: jax.Array, values: dict, extra: Any) -> dict:
            values = {k: v for k, v in values.items() if k != _NO_VALUES}
            optimizer = spec.build(**values)
            instance = task.sample(keys[0])
            start = unroll.start(optimizer, task, instance, keys[1])
            run = RunContext(spec, values, task, instance, start, keys[2], extra)
            state, losses, observed = unroll.trajectory(
                optimizer, task, instance, start, keys[2], steps, lambda s: recorder.observe(run, s)
            )
            return recorder.record(run, state, losses, observed)

        over_seeds = jax.vmap(one, in_axes=(None, 0, 0 if per_seed else None, None))
        if batched:
            over_seeds = jax.vmap(over_seeds, in_axes=(None, None, 0, None))
        program = jax.jit(over_seeds)
        self._programs[key] = program
        return program, True

    def run(
        self,
        spec: OptimizerSpec,
        task: Any,
        keys: jax.Array,
        steps: int,
        values: Mapping[str, Any] | None = None,
        *,
        recorder: Recorder = LOSS_CURVE,
        per_seed: bool = False,
        extra: Any = None,
        chunk: int | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs of ``spec`` on ``task``: one per value of the swept arguments and per key.

        Args:
          spec: the optimizer.
          task: the task (an argument of the program: its data set is not baked in).
          keys: (S, 3) instance keys, one per run of each value.
          steps: optimizee steps per run.
          values: swept argument name -> its values, a leading axis of V (or (V, S) with
            ``per_seed``: a value per seed); each is passed to ``spec.build``. None: one run per
            key with the spec's own numbers (V = 1).
          recorder: what each run keeps (default: its loss curve).
          per_seed: the values carry a seed axis after the value axis.
          extra: anything the recorder needs besides the task (a pytree of arrays).
          chunk: values per compiled call (None: all at once); a smaller chunk bounds the memory
            of runs that keep much. ``chunk=1`` runs each value on its own, in a program without
            the value axis (XLA may round a batch of values apart from a single one, in the
            last bit); with no ``values`` too. The benchmark runs this way: XLA 0.10's CPU
            backend crashed (a segmentation fault) on a value axis of one over five seeds of the
            8x8 autoencoder, and compiles the program without the axis correctly.
          progress: called with the number of values done after each call.

        Returns:
          The recorder's arrays as NumPy arrays, each with leading axes (V, S).
        """
        values = _as_arrays(values)
        names = tuple(sorted(values))
        if values:
            sizes = {jax.tree.leaves(v)[0].shape[0] for v in values.values()}
            if len(sizes) != 1:
                raise ValueError(f"the swept values differ in length: {sorted(sizes)}")
            (count,) = sizes
        else:
            count = 1
        batched = chunk != 1
        program, new = self._program(spec, names, steps, recorder, per_seed, batched)
        chunk = chunk or count
        parts = []
        for begin in range(0, count, chunk):
            if not values:
                part = {_NO_VALUES: jnp.zeros((1,))} if batched else {}
            elif batched:
                part = jax.tree.map(lambda v, b=begin: v[b : b + chunk], values)
            else:
                part = jax.tree.map(lambda v, b=begin: v[b], values)
            started = time.perf_counter()
            out = jax.tree.map(np.asarray, program(task, keys, part, extra))
            if not batched:
                out = jax.tree.map(lambda x: x[None], out)
            if new:
                self.compile_seconds += time.perf_counter() - started
                new = False
            parts.append(out)
            if progress is not None:
                progress(min(chunk, count - begin))
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)


def tenths(values: jax.Array, steps: int) -> jax.Array:
    """The mean of each tenth of a run's ``values`` (of each step, for fewer than ten steps)."""
    chunks = min(10, steps)
    usable = steps - steps % chunks
    return jnp.mean(values[:usable].reshape(chunks, -1), axis=1)


def tenth_ends(steps: int) -> np.ndarray:
    """The last step of each tenth of a run (of each step, for fewer than ten)."""
    chunks = min(10, steps)
    return np.asarray([(k + 1) * steps // chunks - 1 for k in range(chunks)])
