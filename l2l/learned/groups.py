"""Per-group networks: separate learned optimizers for groups of parameters (``kind: grouped``).

Andrychowicz et al., 2016 (section 3.3, "LSTM-sep") meta-train one LSTM for the convolutional
layers of a network and another for its fully connected layers (``net_assignments`` in DeepMind's
code). Here a config holds an ordered list of groups; each names the leaves it takes by their key
path in the params pytree and/or by their rank, and has its own sub-architecture of any registered
kind (``lstm``, ``mlp``, ...). A leaf goes to the first group that matches it; leaves that no
group matches go to the ``default`` network, or, with no default, are an error that names them.

A leaf's path is its pytree keys joined by ``/``: ``params/Conv_0/kernel`` for a flax model,
``0/w`` for the first layer of :class:`l2l.tasks.MLP` (a tuple of ``{"w", "b"}``), the empty string
for a params array. A pattern is a shell glob (:func:`fnmatch.fnmatchcase`; ``*`` also matches
``/``), so ``*/kernel`` takes every kernel and ``*/b`` every bias of the MLP task. In YAML::

    optimizer:
      kind: grouped
      groups:
        - {name: conv, ranks: [4], optimizer: {kind: lstm, hidden_sizes: [20, 20]}}
        - {name: dense, match: ["*/kernel", "*/w"], optimizer: {kind: mlp}}
      default: {kind: mlp, hidden_sizes: [8]}      # biases; null: unmatched leaves are an error

``meta_params`` is a dict from group name (and ``default``) to that group's weights; the optax
transform is :func:`optax.partition` of the groups' transforms, each seeing only its leaves.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from typing import Any, Literal

import jax
import optax

from l2l._errors import L2LError
from l2l.config import field
from l2l.learned.architectures import LearnedOptimizerConfig, MatmulDtype, register
from l2l.learned.lstm import LSTMOptimizerConfig

#: The name of the network that serves the leaves no group matches.
DEFAULT = "default"


class UnassignedParametersError(L2LError, ValueError):
    """Leaves of a params pytree that no group of a grouped optimizer takes (and no default)."""


@dataclasses.dataclass(frozen=True)
class GroupConfig:
    """One group of a grouped optimizer: its name, which leaves it takes, and its network.

    A leaf matches when its ``/``-joined key path matches one of the glob patterns ``match``
    (any path, if empty) and its rank is one of ``ranks`` (any rank, if empty).
    """

    name: str
    optimizer: LearnedOptimizerConfig = field(LSTMOptimizerConfig())
    match: tuple[str, ...] = ()
    ranks: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a group needs a name")
        if any(r < 0 for r in self.ranks):
            raise ValueError(f"group {self.name!r}: ranks must be >= 0, got {list(self.ranks)}")

    def matches(self, path: str, rank: int) -> bool:
        by_path = not self.match or any(fnmatch.fnmatchcase(path, p) for p in self.match)
        return by_path and (not self.ranks or rank in self.ranks)


@register("grouped")
@dataclasses.dataclass(frozen=True)
class GroupedOptimizerConfig(LearnedOptimizerConfig):
    """``optimizer: {kind: grouped}``: a network per group of parameters (module docstring).

    ``groups``: the ordered groups (the first that matches a leaf takes it); ``default``: the
    architecture of the leaves no group takes (null: such leaves are an error).
    """

    kind: Literal["grouped"] = "grouped"
    groups: tuple[GroupConfig, ...] = ()
    default: LearnedOptimizerConfig | None = None

    def __post_init__(self) -> None:
        if not self.groups and self.default is None:
            raise ValueError("a grouped optimizer needs at least one group (or a default)")
        names = [g.name for g in self.groups]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"group names must differ; repeated: {', '.join(repeated)}")
        if DEFAULT in names:
            raise ValueError(f"the group name {DEFAULT!r} is reserved for the default network")

    @property
    def networks(self) -> dict[str, LearnedOptimizerConfig]:
        """Every network's name -> its architecture (the groups', then the default's)."""
        nets = {g.name: g.optimizer for g in self.groups}
        if self.default is not None:
            nets[DEFAULT] = self.default
        return nets

    def init_meta_params(self, key: jax.Array) -> dict:
        return {
            name: cfg.init_meta_params(jax.random.fold_in(key, i))
            for i, (name, cfg) in enumerate(self.networks.items())
        }

    def optimizer(self, meta_params: Any) -> optax.GradientTransformationExtraArgs:
        return grouped_optimizer(meta_params, self)

    def training_optimizer(
        self, meta_params: Any, matmul_dtype: MatmulDtype = "float32"
    ) -> optax.GradientTransformationExtraArgs:
        return _partition(
            self,
            {
                name: cfg.training_optimizer(meta_params[name], matmul_dtype)
                for name, cfg in self.networks.items()
            },
        )


def leaf_path(path: Sequence[Any]) -> str:
    """A pytree key path as the ``/``-joined string the groups' patterns match."""
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def assign(params: Any, config: GroupedOptimizerConfig) -> Any:
    """The pytree of group names (``default`` for the rest) of the leaves of ``params``."""
    unassigned = []

    def label(path: Sequence[Any], leaf: Any) -> str:
        name = leaf_path(path)
        for group in config.groups:
            if group.matches(name, jax.numpy.ndim(leaf)):
                return group.name
        if config.default is None:
            unassigned.append(name or "(the params array)")
        return DEFAULT

    labels = jax.tree_util.tree_map_with_path(label, params)
    if unassigned:
        rules = "; ".join(
            f"{g.name}: match {list(g.match) or 'any'}, ranks {list(g.ranks) or 'any'}"
            for g in config.groups
        )
        raise UnassignedParametersError(
            f"no group of the grouped optimizer takes the parameters {', '.join(unassigned)} "
            f"(groups: {rules}). Add a group that matches them, or set `default:` to an "
            "architecture for the rest"
        )
    return labels


def _partition(
    config: GroupedOptimizerConfig, transforms: dict[str, Any]
) -> optax.GradientTransformationExtraArgs:
    return optax.partition(transforms, lambda tree: assign(tree, config))


def grouped_optimizer(
    meta_params: Any, config: GroupedOptimizerConfig
) -> optax.GradientTransformationExtraArgs:
    """Each group's learned optimizer on its own leaves (``optax.partition``).

    Args:
      meta_params: a dict from each group's name (and ``default``) to its network's weights.
      config: the groups, their architectures, and the default.
    """
    missing = sorted(set(config.networks) - set(meta_params))
    if missing:
        raise ValueError(f"grouped optimizer: meta_params has no weights for {', '.join(missing)}")
    return _partition(
        config, {name: cfg.optimizer(meta_params[name]) for name, cfg in config.networks.items()}
    )
