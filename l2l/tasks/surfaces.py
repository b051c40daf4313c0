r"""Two-dimensional test surfaces f(w), w = (x, y): the landscapes of optimizer races.

Each surface is a pure ``jnp`` function of a ``(2,)`` array, safe under ``jit``, ``vmap`` and
``jax.grad``; ``SURFACES`` maps its name to it, and :func:`surface` looks one up with an error that
lists the known names. :class:`Surface` wraps one as a task (DESIGN.md, contract 3) with a fixed
start point, so the same landscape can be handed to anything that runs tasks.

The surfaces (with :math:`r^2 = x^2 + y^2`):

==================  ===========================================================================
simple_quad         :math:`r^2`
wobbly              :math:`r^2/3 + |x|\sqrt{|x| + 0.1} + 3\sin(x + y) + 3
                    + 8 e^{-2((x+1)^2 + (y+2)^2)}`
basins_and_walls    :math:`r^2/2 + \sin^2(4x)`
ripple              :math:`r^2/3 + (\sin^2(20x) + \sin^2(20y))/15`
giant_plateau       :math:`4(1 - e^{-r^2})`
hills_and_canyon    :math:`r^2/3 + 3e^{-((x+1)^2 + (y+2)^2)} + e^{-1.5(2(x+2)^2 + (y-0.5)^2)}
                    + 3e^{-1.5((x-1)^2 + 2(y+1.5)^2)} + 1.5e^{-((x+1.5)^2 + 3(y+0.5)^2)}
                    + 4(1 - e^{-(x+y)^2})`
two_minimums        :math:`4 - 0.5e^{-((x+2.5)^2 + (y+2.5)^2)} - 3e^{-r^2}`
rosenbrock          :math:`(1 - x)^2 + 100(y - x^2)^2`
==================  ===========================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, cast

import jax
import jax.numpy as jnp
from flax import struct

from l2l._errors import L2LError
from l2l._suggest import did_you_mean
from l2l.tasks.base import TaskConfig, register

SurfaceFn = Callable[[jax.Array], jax.Array]


def simple_quad(w: jax.Array) -> jax.Array:
    """x^2 + y^2: one round bowl, minimum 0 at the origin."""
    x, y = w[0], w[1]
    return x**2 + y**2


def wobbly(w: jax.Array) -> jax.Array:
    """A bowl with a kink along x = 0, a diagonal sine wave and a bump at (-1, -2)."""
    x, y = w[0], w[1]
    return (
        (x**2 + y**2) / 3
        + jnp.abs(x) * jnp.sqrt(jnp.abs(x) + 0.1)
        + 3 * jnp.sin(x + y)
        + 3
        + 8 * jnp.exp(-2 * ((x + 1) ** 2 + (y + 2) ** 2))
    )


def basins_and_walls(w: jax.Array) -> jax.Array:
    """A bowl cut by walls sin^2(4x) into basins along x."""
    x, y = w[0], w[1]
    return (x**2 + y**2) / 2 + jnp.sin(4 * x) ** 2


def ripple(w: jax.Array) -> jax.Array:
    """A shallow bowl covered in fine ripples (period pi/20) of small height."""
    x, y = w[0], w[1]
    return (x**2 + y**2) / 3 + (jnp.sin(20 * x) ** 2 + jnp.sin(20 * y) ** 2) / 15


def giant_plateau(w: jax.Array) -> jax.Array:
    """An inverted Gaussian: a narrow well at the origin in a plateau of height 4."""
    x, y = w[0], w[1]
    return 4 * (1 - jnp.exp(-(x**2 + y**2)))


def hills_and_canyon(w: jax.Array) -> jax.Array:
    """A bowl with four Gaussian hills and a canyon along the diagonal x + y = 0."""
    x, y = w[0], w[1]
    return (
        (x**2 + y**2) / 3
        + 3 * jnp.exp(-((x + 1) ** 2 + (y + 2) ** 2))
        + jnp.exp(-1.5 * (2 * (x + 2) ** 2 + (y - 0.5) ** 2))
        + 3 * jnp.exp(-1.5 * ((x - 1) ** 2 + 2 * (y + 1.5) ** 2))
        + 1.5 * jnp.exp(-((x + 1.5) ** 2 + 3 * (y + 0.5) ** 2))
        + 4 * (1 - jnp.exp(-((x + y) ** 2)))
    )


def two_minimums(w: jax.Array) -> jax.Array:
    """A plateau of height 4 with a shallow well at (-2.5, -2.5) and a deep one at the origin."""
    x, y = w[0], w[1]
    return 4 - 0.5 * jnp.exp(-((x + 2.5) ** 2 + (y + 2.5) ** 2)) - 3 * jnp.exp(-(x**2 + y**2))


def rosenbrock(w: jax.Array) -> jax.Array:
    """Rosenbrock's banana valley, minimum 0 at (1, 1)."""
    x, y = w[0], w[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


SURFACES: dict[str, SurfaceFn] = {
    "simple_quad": simple_quad,
    "wobbly": wobbly,
    "basins_and_walls": basins_and_walls,
    "ripple": ripple,
    "giant_plateau": giant_plateau,
    "hills_and_canyon": hills_and_canyon,
    "two_minimums": two_minimums,
    "rosenbrock": rosenbrock,
}


class UnknownSurfaceError(L2LError, KeyError, ValueError):
    """``surface`` was given a name that is not in ``SURFACES``."""


def surface(name: str) -> SurfaceFn:
    """The surface function called ``name``; an error listing the known names otherwise."""
    if name not in SURFACES:
        raise UnknownSurfaceError(
            f"Unknown surface {name!r}.{did_you_mean(name, SURFACES)} "
            f"Known surfaces: {', '.join(SURFACES)}."
        )
    return SURFACES[name]


@struct.dataclass
class Surface:
    """A surface as a task: no random instances, a fixed start point, ``loss = f(params)``.

    ``f`` is the surface called ``name`` (a key of ``SURFACES``), or ``function`` when given (any
    function of a ``(2,)`` array). ``sample`` returns an empty instance, ``init`` the start point
    (a ``(2,)`` float32 array), and ``loss(params, instance, key)`` the surface's value; the keys
    are ignored.
    """

    name: str = struct.field(pytree_node=False, default="simple_quad")
    start: tuple[float, float] = struct.field(pytree_node=False, default=(-2.8, -2.5))
    function: SurfaceFn | None = struct.field(pytree_node=False, default=None)

    def __post_init__(self) -> None:
        if self.function is None:
            surface(self.name)  # Fails early, listing the known names.
        if len(self.start) != 2:
            raise ValueError(f"Surface: start must be a point (x, y), got {self.start!r}")

    @property
    def f(self) -> SurfaceFn:
        """The surface's function."""
        return SURFACES[self.name] if self.function is None else self.function

    def sample(self, key: jax.Array) -> tuple:
        del key
        return ()

    def init(self, key: jax.Array, instance: tuple = ()) -> jax.Array:
        del key, instance
        return jnp.asarray(self.start, jnp.float32)

    def loss(
        self, params: jax.Array, instance: tuple = (), key: jax.Array | None = None
    ) -> jax.Array:
        del instance, key
        return self.f(params)


@register("surface")
@dataclasses.dataclass(frozen=True)
class SurfaceConfig(TaskConfig):
    """``task: {kind: surface, name: rosenbrock, start: [x, y]}``: one 2-D test surface."""

    kind: Literal["surface"] = "surface"
    name: str = "simple_quad"
    start: tuple[float, float] = (-2.8, -2.5)

    def __post_init__(self) -> None:
        surface(self.name)

    def build(self) -> Surface:
        return Surface(name=self.name, start=cast(tuple[float, float], tuple(self.start)))
