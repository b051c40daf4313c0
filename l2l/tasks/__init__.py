"""Optimizees. A task is pure functions over arrays (DESIGN.md, contract 3):
``sample(key) -> instance``, ``init(key, instance) -> params``, ``loss(params, instance, key)``.
Tasks are flax struct dataclasses: their arrays (datasets) are pytree leaves, their settings static.
"""

from l2l.tasks.mlp import ACTIVATIONS, MLPClassifier, MLPInstance, MLPMixture, cross_entropy
from l2l.tasks.quadratic import Quadratic, QuadraticInstance
from l2l.tasks.separable import SeparableQuadratic, SeparableQuadraticInstance

__all__ = [
    "ACTIVATIONS",
    "MLPClassifier",
    "MLPInstance",
    "MLPMixture",
    "Quadratic",
    "QuadraticInstance",
    "SeparableQuadratic",
    "SeparableQuadraticInstance",
    "cross_entropy",
]
