"""Optimizees (DESIGN.md, contract 3): the :class:`Task` protocol and its registered kinds.

A task is pure functions over arrays: ``sample(key) -> instance``, ``init(key, instance) ->
params``, ``loss(params, instance, key)``. Tasks are flax struct dataclasses: their arrays
(datasets) are pytree leaves, their settings static. Each kind has a config class chosen by
``kind:`` in a config file (:data:`TASK_KINDS`): ``quadratic``, ``separable_quadratic``,
``noisy_quadratic`` (Wu et al.'s, with its closed forms), ``surface``, ``mlp``, ``mlp_mix``,
``conv``, ``autoencoder``, ``markov_rnn`` (a recurrent net on a random language), ``reparam``
(any task with rescaled parameters), ``random_reparam`` (a random scale per instance), ``mix``
(tasks of any kinds side by side), ``distribution`` (tasks to meta-train on, one drawn per
meta-step). A new kind is one module that defines the task, its :class:`TaskConfig` subclass
and registers it with :func:`register` (see ``quadratic.py``).

Examples:
    A random quadratic f(theta) = ||W theta - y||^2, one instance and its initial point:

    >>> import jax, jax.numpy as jnp, l2l
    >>> task = l2l.tasks.QuadraticConfig(dim=20).build()
    >>> key = jax.random.key(0)
    >>> instance = task.sample(key); params = task.init(key, instance)
    >>> instance.W.shape, params.shape
    ((20, 20), (20,))
    >>> bool(jnp.isclose(task.loss(jnp.zeros(20), instance), jnp.sum(instance.y**2)))  # f(0)
    True
"""

from l2l.tasks.autoencoder import AutoencoderConfig, MLPAutoencoder
from l2l.tasks.base import TASK_KINDS, Task, TaskConfig, build, config_from_dict, register
from l2l.tasks.conv import ConvClassifier, ConvConfig
from l2l.tasks.distribution import DistributionConfig, MemberConfig, TaskDistribution
from l2l.tasks.mix import MixConfig, TaskMixture
from l2l.tasks.mlp import (
    ACTIVATIONS,
    ArchitectureConfig,
    MLPClassifier,
    MLPConfig,
    MLPInstance,
    MLPMixConfig,
    MLPMixture,
    cross_entropy,
)
from l2l.tasks.noisy_quadratic import NoisyQuadratic, NoisyQuadraticConfig
from l2l.tasks.quadratic import Quadratic, QuadraticConfig, QuadraticInstance
from l2l.tasks.reparam import (
    RandomReparamConfig,
    RandomReparamTask,
    ReparamConfig,
    ReparamTask,
)
from l2l.tasks.separable import (
    SeparableQuadratic,
    SeparableQuadraticConfig,
    SeparableQuadraticInstance,
)
from l2l.tasks.sequence import MarkovInstance, MarkovRNN, MarkovRNNConfig
from l2l.tasks.surfaces import SURFACES, Surface, SurfaceConfig, surface

__all__ = [
    "ACTIVATIONS",
    "SURFACES",
    "TASK_KINDS",
    "ArchitectureConfig",
    "AutoencoderConfig",
    "ConvClassifier",
    "ConvConfig",
    "DistributionConfig",
    "MLPAutoencoder",
    "MLPClassifier",
    "MLPConfig",
    "MLPInstance",
    "MLPMixConfig",
    "MLPMixture",
    "MarkovInstance",
    "MarkovRNN",
    "MarkovRNNConfig",
    "MemberConfig",
    "MixConfig",
    "NoisyQuadratic",
    "NoisyQuadraticConfig",
    "Quadratic",
    "QuadraticConfig",
    "QuadraticInstance",
    "RandomReparamConfig",
    "RandomReparamTask",
    "ReparamConfig",
    "ReparamTask",
    "SeparableQuadratic",
    "SeparableQuadraticConfig",
    "SeparableQuadraticInstance",
    "Surface",
    "SurfaceConfig",
    "Task",
    "TaskConfig",
    "TaskDistribution",
    "TaskMixture",
    "build",
    "config_from_dict",
    "cross_entropy",
    "register",
    "surface",
]
