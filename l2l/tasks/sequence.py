r"""A recurrent network learning a random language: next-token prediction on sequences of a random
Markov chain, and its task kind ``markov_rnn``. No data set: the sequences are drawn on device.

**The language** (the task instance): a Markov chain over ``vocab`` tokens whose transition
probabilities are :math:`P_{ij} = \mathrm{softmax}_j(\beta Z_{ij})`, :math:`Z_{ij} \sim N(0, 1)`;
``sharpness`` :math:`\beta` sets how predictable the next token is. A minibatch is ``batch_size``
sequences of ``length + 1`` tokens, the first uniform, each next one drawn from the chain.

**The network**: an Elman RNN with ``hidden`` tanh units reading one token at a time and predicting
the next,

.. math::  h_t = \tanh(E_{x_t} + h_{t-1} R + b),\qquad
           p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(h_t W + c),

trained by the mean cross-entropy over the ``length`` predictions (backpropagation through time).
The best achievable loss is the chain's entropy rate given the first token's uniform law
(:meth:`MarkovRNN.entropy_floor`), which a test can hold a trained run against; the loss at
:math:`W = 0, c = 0` is :math:`\log V`.

A small sequence model on a synthetic language, as the recurrent families of Metz et al.'s task
suites (``learned_optimization``'s RNN language models), without a text corpus.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from l2l.config import field
from l2l.tasks.base import TaskConfig, register
from l2l.tasks.mlp import cross_entropy


class MarkovInstance(NamedTuple):
    """One random language."""

    logits: jax.Array  # (vocab, vocab): row i is beta * Z_i, the next token's logits after i.


@struct.dataclass
class MarkovRNN:
    """Next-token prediction with an Elman RNN on sequences of a random Markov chain."""

    vocab: int = struct.field(pytree_node=False, default=16)
    hidden: int = struct.field(pytree_node=False, default=32)
    length: int = struct.field(pytree_node=False, default=16)
    batch_size: int = struct.field(pytree_node=False, default=32)
    sharpness: float = struct.field(pytree_node=False, default=2.0)

    def __post_init__(self) -> None:
        for name in ("vocab", "hidden", "length", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (2 if name == "vocab" else 1):
                raise ValueError(f"MarkovRNN: {name} must be a positive integer, got {value!r}")

    def sample(self, key: jax.Array) -> MarkovInstance:
        return MarkovInstance(self.sharpness * jax.random.normal(key, (self.vocab, self.vocab)))

    def init(self, key: jax.Array, instance: MarkovInstance | None = None) -> dict:
        del instance
        k_e, k_r, k_w = jax.random.split(key, 3)
        v, h = self.vocab, self.hidden
        return {
            "embed": jax.random.normal(k_e, (v, h)),
            "recurrent": jax.random.normal(k_r, (h, h)) / jnp.sqrt(h),
            "bias": jnp.zeros((h,)),
            "out_w": jax.random.normal(k_w, (h, v)) / jnp.sqrt(h),
            "out_b": jnp.zeros((v,)),
        }

    def sequences(self, instance: MarkovInstance, key: jax.Array) -> jax.Array:
        """A minibatch of token sequences, (batch_size, length + 1) int32."""
        k_first, k_rest = jax.random.split(key)
        first = jax.random.randint(k_first, (self.batch_size,), 0, self.vocab)

        def step(tokens: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
            nxt = jax.random.categorical(k, instance.logits[tokens], axis=-1)
            return nxt, nxt

        _, rest = jax.lax.scan(step, first, jax.random.split(k_rest, self.length))
        return jnp.concatenate([first[:, None], rest.T], axis=1).astype(jnp.int32)

    def logits(self, params: dict, tokens: jax.Array) -> jax.Array:
        """The next-token logits after each of ``tokens`` (batch, length) -> (batch, length, V)."""

        def step(h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
            h = jnp.tanh(params["embed"][x] + h @ params["recurrent"] + params["bias"])
            return h, h

        h0 = jnp.zeros((tokens.shape[0], self.hidden))
        _, hs = jax.lax.scan(step, h0, tokens.T)  # (length, batch, hidden)
        return jnp.swapaxes(hs @ params["out_w"] + params["out_b"], 0, 1)

    def loss(self, params: dict, instance: MarkovInstance, key: jax.Array) -> jax.Array:
        tokens = self.sequences(instance, key)
        logits = self.logits(params, tokens[:, :-1])
        return cross_entropy(logits.reshape(-1, self.vocab), tokens[:, 1:].reshape(-1))

    def entropy_floor(self, instance: MarkovInstance) -> jax.Array:
        """The expected loss of the true next-token law (the lowest any predictor reaches): the
        mean over the ``length`` predictions of E[H(P_{x_t})], x_0 uniform, x_t its law after t
        steps of the chain."""
        p = jax.nn.softmax(instance.logits, axis=-1)
        row_entropy = -jnp.sum(p * jnp.log(p), axis=-1)

        def step(law: jax.Array, _: None) -> tuple[jax.Array, jax.Array]:
            return law @ p, law @ row_entropy

        _, entropies = jax.lax.scan(
            step, jnp.full((self.vocab,), 1.0 / self.vocab), None, length=self.length
        )
        return jnp.mean(entropies)


@register("markov_rnn")
@dataclasses.dataclass(frozen=True)
class MarkovRNNConfig(TaskConfig):
    """``task: {kind: markov_rnn}``: an Elman RNN predicting a random Markov chain's next token
    (:class:`MarkovRNN`)."""

    kind: Literal["markov_rnn"] = "markov_rnn"
    vocab: int = field(16, ge=2)
    hidden: int = field(32, ge=1)
    length: int = field(16, ge=1, help="predictions per sequence")
    batch_size: int = field(32, ge=1)
    sharpness: float = field(2.0, ge=0, help="beta: the transition logits' scale")

    def build(self) -> MarkovRNN:
        return MarkovRNN(
            vocab=self.vocab,
            hidden=self.hidden,
            length=self.length,
            batch_size=self.batch_size,
            sharpness=self.sharpness,
        )
