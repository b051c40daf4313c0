"""The registry of learned-optimizer architectures (DESIGN.md, contract 2).

An architecture is features -> network -> update rule -> optax transform. Each one is a config
class derived from :class:`LearnedOptimizerConfig` (a frozen dataclass with a ``kind`` field,
saved inside every trained optimizer's file) that says how to make fresh weights and how to turn
weights into an optax transform, registered with :func:`register`. The trainer, the file format
and the zoo see only this interface, so they serve any registered architecture; ``optimizer:
{kind: ...}`` in a config picks one. The coordinatewise LSTM of Andrychowicz et al. (2016) is the
first entry (``kind: lstm``, :class:`l2l.learned.LSTMOptimizerConfig`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar

import jax
import optax

from l2l.config import Kinds

#: Every registered architecture: kind name -> its config class.
ARCHITECTURES = Kinds("learned-optimizer architecture")

#: The operand dtype of a fused LSTM's matmuls in meta-training (float32 accumulation either way).
MatmulDtype = Literal["float32", "bfloat16"]

_ConfigClass = TypeVar("_ConfigClass", bound=type)


class BatchedUpdate(NamedTuple):
    """An optional fast path for meta-training: the update rule over the flat gradients of a whole
    batch of task instances at once (e.g. one matmul over every coordinate of every instance),
    computing what ``jax.vmap`` of the architecture's transform computes (to float rounding).

    ``prepare(meta_params) -> weights`` runs once per meta-step, outside the unroll;
    ``to_carry(opt_state) -> carry`` converts the batched optimizer state (leading instance axis)
    to the layout the fast step carries and ``from_carry(carry, like) -> opt_state`` converts it
    back (``like``: the batched state ``to_carry`` was given, for its structure);
    ``step(weights, carry, flat_grads, flat_params, losses) -> (carry, flat_updates)`` maps the
    (B, n) gradients and parameters (each instance's pytree raveled, leaf after leaf in
    ``jax.tree.leaves`` order) and the (B,) losses at those parameters (the ``value`` the plain
    transform is given) to (B, n) updates.
    """

    prepare: Callable[[Any], Any]
    to_carry: Callable[[Any], Any]
    step: Callable[[Any, Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array]]
    from_carry: Callable[[Any, Any], Any]


@dataclasses.dataclass(frozen=True)
class LearnedOptimizerConfig:
    """The base of every architecture's config; a section typed ``LearnedOptimizerConfig`` is
    built as the class registered under its ``kind`` (default: ``lstm``)."""

    __kinds__: ClassVar[Kinds] = ARCHITECTURES
    #: The real-valued fields that scale the update without touching the weights (the LSTM's
    #: ``output_scale``): the hyperparameters of ``l2l.learned.zoo.factory``, which a
    #: hyperoptimizer level can learn.
    SETTINGS: ClassVar[tuple[str, ...]] = ()

    kind: str = "lstm"

    def init_meta_params(self, key: jax.Array) -> Any:
        """Fresh network weights (a pytree of arrays)."""
        raise NotImplementedError(f"{type(self).__name__} does not define init_meta_params")

    def optimizer(self, meta_params: Any) -> optax.GradientTransformationExtraArgs:
        """The learned optimizer with weights ``meta_params``: an optax transform that closes over
        them, so ``jax.grad`` with respect to ``meta_params`` flows through every update."""
        raise NotImplementedError(f"{type(self).__name__} does not define optimizer")

    def training_optimizer(
        self, meta_params: Any, matmul_dtype: MatmulDtype = "float32"
    ) -> optax.GradientTransformationExtraArgs:
        """The same function as :meth:`optimizer`, computed the way meta-training runs fastest
        (the default: :meth:`optimizer` itself)."""
        del matmul_dtype
        return self.optimizer(meta_params)

    def batched_update(self, matmul_dtype: MatmulDtype = "float32") -> BatchedUpdate | None:
        """The fast path of :class:`BatchedUpdate`, or None (meta-training then ``vmap`` s the
        transform over the batch)."""
        del matmul_dtype
        return None


def register(kind: str) -> Callable[[_ConfigClass], _ConfigClass]:
    """Class decorator: register a :class:`LearnedOptimizerConfig` subclass as ``kind``."""

    def decorate(config_class: _ConfigClass) -> _ConfigClass:
        if not (
            dataclasses.is_dataclass(config_class)
            and issubclass(config_class, LearnedOptimizerConfig)
        ):
            raise TypeError(
                f"architecture {kind!r}: {config_class!r} is not a LearnedOptimizerConfig dataclass"
            )
        return ARCHITECTURES.register(kind, config_class)

    return decorate


def init_meta_params(key: jax.Array, config: LearnedOptimizerConfig) -> Any:
    """Fresh weights of the architecture ``config`` describes."""
    return config.init_meta_params(key)


def make_optimizer(
    meta_params: Any, config: LearnedOptimizerConfig
) -> optax.GradientTransformationExtraArgs:
    """The optax transform of the architecture ``config`` with weights ``meta_params``."""
    return config.optimizer(meta_params)
