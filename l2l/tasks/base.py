"""The task contract (DESIGN.md, contract 3) and the registry of task kinds.

A task is pure functions over arrays, safe under ``jit``, ``vmap`` and ``scan``:
``sample(key) -> instance``, ``init(key, instance) -> params``, ``loss(params, instance, key)``.
Each task kind has its own config class, a frozen dataclass derived from :class:`TaskConfig` with
a ``kind`` field and a ``build()`` method, registered with :func:`register`; a config's
``task: {kind: ..., ...}`` section is then built as that class (the config engine dispatches on
``kind``). Adding a task kind is one module: the task, its config class, and ``register``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import jax

from l2l.config import Kinds, from_dict

#: Every registered task kind: kind name -> its config class.
TASK_KINDS = Kinds("task")

_ConfigClass = TypeVar("_ConfigClass", bound=type)


@runtime_checkable
class Task(Protocol):
    """An optimizee family. A batch of instances is a leading axis and ``vmap``.

    The key of ``loss`` draws a minibatch where the task has data (the dataset lives on device as
    a pytree leaf of the task, so a whole unroll is one compiled ``scan``); deterministic tasks
    ignore it.

    A task may also offer ``training_loss(params, instance) -> scalar``: the loss over its whole
    training set, without minibatch noise (an MLP's cross-entropy over every training example;
    the noisy quadratic's noise-free loss). Experiments that report a final training loss call it
    where it exists (:func:`training_loss`), whatever the task's kind.
    """

    def sample(self, key: jax.Array) -> Any: ...

    def init(self, key: jax.Array, instance: Any) -> Any: ...

    def loss(self, params: Any, instance: Any, key: jax.Array) -> jax.Array: ...


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """The base of every task kind's config; a section typed ``TaskConfig`` is built as the class
    registered under its ``kind`` (the field's default kind when the section omits it)."""

    __kinds__: ClassVar[Kinds] = TASK_KINDS

    kind: str = "quadratic"

    def build(self) -> Task:
        """The task this config describes (data tasks load their data set onto the device)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its task")

    def with_split(self, split: str) -> TaskConfig:
        """The same task drawing its data from ``split`` (itself for a task without data)."""
        if not hasattr(self, "split") or self.split == split:
            return self
        return dataclasses.replace(self, **{"split": split})  # (a field of the data kinds only)


def unwrapped(task: Any, params: Any) -> tuple[Any, Any]:
    """The task under any wrappers (tasks with ``unwrap(params) -> (task, params)``, e.g.
    ``reparam``) and the parameters its network uses."""
    while hasattr(task, "unwrap"):
        task, params = task.unwrap(params)
    return task, params


def training_loss(task: Task, params: Any, instance: Any = None) -> jax.Array:
    """``task``'s loss over its whole training set; a one-line error for a task without one. A
    wrapper task is asked through the task it wraps (:func:`unwrapped`)."""
    task, params = unwrapped(task, params)
    if not hasattr(task, "training_loss"):
        raise TypeError(
            f"{type(task).__name__} has no whole-training-set loss (`training_loss`): this "
            "experiment reports one, so it needs a task that has it (mlp, noisy_quadratic)"
        )
    return task.training_loss(params, instance)


def register(kind: str) -> Callable[[_ConfigClass], _ConfigClass]:
    """Class decorator: register a :class:`TaskConfig` subclass as the config of task ``kind``."""

    def decorate(config_class: _ConfigClass) -> _ConfigClass:
        if not (dataclasses.is_dataclass(config_class) and issubclass(config_class, TaskConfig)):
            raise TypeError(f"task kind {kind!r}: {config_class!r} is not a TaskConfig dataclass")
        return TASK_KINDS.register(kind, config_class)

    return decorate


def build(cfg: TaskConfig) -> Task:
    """The task ``cfg`` describes."""
    return cfg.build()


def config_from_dict(data: dict, *, source: str = "<dict>", legacy: bool = False) -> TaskConfig:
    """The config of the task kind that ``data["kind"]`` names.

    ``legacy``: read a task section written before task kinds had their own config classes (the
    flat union of every kind's fields, as stored in zoo files' info): keys that the kind does not
    have, and null values (then a kind's own default), are dropped.
    """
    if legacy:
        kind = data.get("kind", "quadratic")
        known = {f.name for f in dataclasses.fields(TASK_KINDS.get(kind, where=source))}
        data = {k: v for k, v in data.items() if k in known and v is not None}
    return from_dict(TaskConfig, data, source=source, prefix="task")
