"""The 2-D surfaces: values and gradients at chosen points against hand-derived formulas."""

import math

import jax
import numpy as np
import pytest

from l2l.tasks.surfaces import SURFACES, Surface, UnknownSurfaceError, surface

# Each surface's value and gradient written out by hand (NumPy, float64), with r2 = x^2 + y^2.


def _simple_quad(x, y):
    return x**2 + y**2, (2 * x, 2 * y)


def _wobbly(x, y):
    a = abs(x)
    bump = 8 * math.exp(-2 * ((x + 1) ** 2 + (y + 2) ** 2))
    f = (x**2 + y**2) / 3 + a * math.sqrt(a + 0.1) + 3 * math.sin(x + y) + 3 + bump
    # d/dx |x| sqrt(|x| + 0.1) = sign(x) (sqrt(|x| + 0.1) + |x| / (2 sqrt(|x| + 0.1)))
    kink = math.copysign(math.sqrt(a + 0.1) + a / (2 * math.sqrt(a + 0.1)), x)
    dx = 2 * x / 3 + kink + 3 * math.cos(x + y) - 4 * (x + 1) * bump
    dy = 2 * y / 3 + 3 * math.cos(x + y) - 4 * (y + 2) * bump
    return f, (dx, dy)


def _basins_and_walls(x, y):
    # d/dx sin^2(4x) = 8 sin(4x) cos(4x) = 4 sin(8x)
    return (x**2 + y**2) / 2 + math.sin(4 * x) ** 2, (x + 4 * math.sin(8 * x), y)


def _ripple(x, y):
    # d/dx sin^2(20x) / 15 = 40 sin(20x) cos(20x) / 15 = (4/3) sin(40x)
    f = (x**2 + y**2) / 3 + (math.sin(20 * x) ** 2 + math.sin(20 * y) ** 2) / 15
    return f, (2 * x / 3 + 4 / 3 * math.sin(40 * x), 2 * y / 3 + 4 / 3 * math.sin(40 * y))


def _giant_plateau(x, y):
    e = math.exp(-(x**2 + y**2))
    return 4 * (1 - e), (8 * x * e, 8 * y * e)


def _hills_and_canyon(x, y):
    h1 = 3 * math.exp(-((x + 1) ** 2 + (y + 2) ** 2))
    h2 = math.exp(-1.5 * (2 * (x + 2) ** 2 + (y - 0.5) ** 2))
    h3 = 3 * math.exp(-1.5 * ((x - 1) ** 2 + 2 * (y + 1.5) ** 2))
    h4 = 1.5 * math.exp(-((x + 1.5) ** 2 + 3 * (y + 0.5) ** 2))
    c = math.exp(-((x + y) ** 2))
    f = (x**2 + y**2) / 3 + h1 + h2 + h3 + h4 + 4 * (1 - c)
    # d/du [k e^{-q(u)}] = -q'(u) k e^{-q(u)};  d/dx 4(1 - e^{-(x+y)^2}) = 8 (x + y) e^{-(x+y)^2}
    dx = (
        2 * x / 3
        - 2 * (x + 1) * h1
        - 6 * (x + 2) * h2
        - 3 * (x - 1) * h3
        - 2 * (x + 1.5) * h4
        + 8 * (x + y) * c
    )
    dy = (
        2 * y / 3
        - 2 * (y + 2) * h1
        - 3 * (y - 0.5) * h2
        - 6 * (y + 1.5) * h3
        - 6 * (y + 0.5) * h4
        + 8 * (x + y) * c
    )
    return f, (dx, dy)


def _two_minimums(x, y):
    shallow = 0.5 * math.exp(-((x + 2.5) ** 2 + (y + 2.5) ** 2))
    deep = 3 * math.exp(-(x**2 + y**2))
    f = 4 - shallow - deep
    return f, (2 * (x + 2.5) * shallow + 2 * x * deep, 2 * (y + 2.5) * shallow + 2 * y * deep)


def _rosenbrock(x, y):
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    return f, (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2))


BY_HAND = {
    "simple_quad": _simple_quad,
    "wobbly": _wobbly,
    "basins_and_walls": _basins_and_walls,
    "ripple": _ripple,
    "giant_plateau": _giant_plateau,
    "hills_and_canyon": _hills_and_canyon,
    "two_minimums": _two_minimums,
    "rosenbrock": _rosenbrock,
}
POINTS = [(-2.8, -2.5), (-1.0, -2.0), (0.3, -0.7), (1.2, 0.9), (-0.45, 1.6)]


def test_every_surface_has_a_hand_formula():
    assert set(SURFACES) == set(BY_HAND)


@pytest.mark.parametrize("name", sorted(BY_HAND))
@pytest.mark.parametrize("point", POINTS)
def test_value_and_gradient_match_the_hand_formulas(name, point):
    f = SURFACES[name]
    value, grad = jax.value_and_grad(f)(np.asarray(point, np.float32))
    expected_value, expected_grad = BY_HAND[name](*np.asarray(point, np.float32).astype(float))
    np.testing.assert_allclose(float(value), expected_value, rtol=2e-6, atol=1e-5)
    scale = max(1.0, float(np.max(np.abs(expected_grad))))
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-5, atol=2e-6 * scale)


@pytest.mark.parametrize(
    "name, point, value, grad",
    [
        # Worked out by hand at points where the formulas collapse.
        ("simple_quad", (1.0, 2.0), 5.0, (2.0, 4.0)),
        ("rosenbrock", (1.0, 1.0), 0.0, (0.0, 0.0)),
        ("rosenbrock", (0.0, 0.0), 1.0, (-2.0, 0.0)),
        # -2(1 - x) = -4 and -400 x (y - x^2) = +400 at (-1, 2).
        ("rosenbrock", (-1.0, 2.0), 4.0 + 100.0, (-4.0 + 400.0, 200.0)),
        # sin(4 pi/8) = 1, sin(8 pi/8) = 0: f = (pi^2/64 + 1)/2 + 1, grad = (pi/8, 1).
        ("basins_and_walls", (math.pi / 8, 1.0), (math.pi**2 / 64 + 1) / 2 + 1, (math.pi / 8, 1.0)),
        # f = 4(1 - 1/e), df/dx = 8/e.
        ("giant_plateau", (1.0, 0.0), 4 * (1 - 1 / math.e), (8 / math.e, 0.0)),
        # The deep minimum: f = 1 - 0.5 e^{-12.5}; only the shallow well pulls, by 2.5 e^{-12.5}.
        (
            "two_minimums",
            (0.0, 0.0),
            1 - 0.5 * math.exp(-12.5),
            (2.5 * math.exp(-12.5), 2.5 * math.exp(-12.5)),
        ),
        # The shallow minimum: f = 4 - 0.5 - 3 e^{-12.5}; the deep well pulls by 15 e^{-12.5}.
        (
            "two_minimums",
            (-2.5, -2.5),
            3.5 - 3 * math.exp(-12.5),
            (-15 * math.exp(-12.5), -15 * math.exp(-12.5)),
        ),
        # At the origin: 3 sin(0) = 0, |0| term 0, bump 8 e^{-10}.
        ("wobbly", (0.0, 0.0), 3 + 8 * math.exp(-10), None),
    ],
)
def test_values_worked_out_by_hand(name, point, value, grad):
    f = SURFACES[name]
    np.testing.assert_allclose(float(f(np.asarray(point, np.float32))), value, rtol=1e-6, atol=1e-6)
    if grad is not None:
        got = jax.grad(f)(np.asarray(point, np.float32))
        np.testing.assert_allclose(np.asarray(got), grad, rtol=1e-5, atol=1e-7)


def test_unknown_surface_lists_the_known_ones():
    with pytest.raises(UnknownSurfaceError) as err:
        surface("hills_and_canyons")
    message = str(err.value)
    assert "Did you mean 'hills_and_canyon'" in message
    assert all(name in message for name in SURFACES)
    with pytest.raises(ValueError, match="Known surfaces"):
        Surface(name="bowl")


def test_surface_task_follows_the_task_contract():
    task = Surface(name="rosenbrock", start=(-1.0, 2.0))
    key = jax.random.key(0)
    instance = task.sample(key)
    params = task.init(key, instance)
    np.testing.assert_array_equal(np.asarray(params), [-1.0, 2.0])
    assert float(jax.jit(task.loss)(params, instance, key)) == pytest.approx(104.0)
    np.testing.assert_allclose(jax.grad(task.loss)(params, instance, key), [396.0, 200.0])
