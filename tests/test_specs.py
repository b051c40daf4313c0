"""Optimizer specs (``l2l.specs``): every kind builds exactly the optax object it names (updates
equal a directly built one's), with swept values as overrides; the plain-string shorthand, the
defaults, the step-size readers and the compile structure; one-line errors for bad specs."""

import jax
import numpy as np
import optax
import pytest

from l2l import hyper, learned, optimizers, specs
from l2l.config import ConfigError, from_dict, to_dict

contrib = optax.contrib


def _same(quadratic_updates, ours, theirs):
    ours, theirs = quadratic_updates(ours, 3)[0], quadratic_updates(theirs, 3)[0]
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "written, values, direct",
    [
        ({"name": "nesterov", "hyperparams": {"momentum": 0.8}}, {"learning_rate": 0.1},
         lambda: optimizers.nesterov(0.1, 0.8)),
        ({"kind": "optax", "name": "adamw", "hyperparams": {"weight_decay": 0.1}},
         {"learning_rate": 3e-3}, lambda: optax.adamw(3e-3, weight_decay=0.1)),
        ({"kind": "optax", "name": "lion"}, {"learning_rate": 1e-3}, lambda: optax.lion(1e-3)),
        ({"kind": "optax", "name": "prodigy", "hyperparams": {"b2": 0.99}},
         {"estim_lr0": 1e-4}, lambda: contrib.prodigy(betas=(0.9, 0.99), estim_lr0=1e-4)),
        ({"kind": "optax", "name": "dog"}, {"init_learning_rate": 1e-3},
         lambda: contrib.dog(init_step=("learning_rate", 1e-3))),
        ({"kind": "optax", "name": "dog"}, {"reps_rel": 1e-4},
         lambda: contrib.dog(init_step=("heuristic", 1e-4))),
        ({"kind": "optax", "name": "mechanize", "hyperparams": {"s_init": 1e-5},
          "base": {"kind": "optax", "name": "adam", "hyperparams": {"learning_rate": 1.0}}},
         {"learning_rate": 0.02}, lambda: contrib.mechanize(optax.adam(0.02), s_init=1e-5)),
        ({"kind": "optax", "name": "contrib.schedule_free_adamw"}, {},
         lambda: contrib.schedule_free_adamw()),
        ({"kind": "stack", "levels": ["adam", "sgd"], "mode": "run", "discount": 0.9},
         {"learning_rate": 1e-2},
         lambda: hyper.stack(hyper.adam(1e-2), hyper.sgd(), mode="run", discount=0.9)),
        ({"kind": "stack", "levels": [{"optimizer": "adamw", "hyperparams": {"learning_rate": 1e-3,
                                                                      "weight_decay": 0.1},
                                       "learn": ["learning_rate", "weight_decay"]}, "sgd"]},
         {"learning_rate": 3e-3},
         lambda: hyper.stack(hyper.level(optax.adamw, learning_rate=3e-3, weight_decay=0.1,
                                         learn=("learning_rate", "weight_decay")), hyper.sgd())),
    ],
)  # fmt: skip
def test_every_kind_builds_the_optimizer_it_names(quadratic_updates, written, values, direct):
    spec = specs.spec(written)
    _same(quadratic_updates, spec.build(**values), direct())
    again = from_dict(specs.OptimizerSpec, to_dict(spec))  # as written into config.yaml
    assert again == spec


def test_a_zoo_optimizer_by_name_and_by_its_weights(quadratic_updates):
    spec = specs.spec("quadratic-lstm")
    assert isinstance(spec, specs.LearnedSpec) and spec.display_label == "quadratic-lstm"
    trained = learned.resolve("quadratic-lstm")
    _same(quadratic_updates, spec.build(), learned.pretrained("quadratic-lstm"))
    _same(quadratic_updates, spec.build(meta_params=trained.meta_params), trained.transform())
    with pytest.raises(ValueError, match="no hyperparameters to set or sweep"):
        spec.build(learning_rate=0.1)


def test_a_plain_name_is_a_rule_then_an_optax_factory_then_a_zoo_optimizer():
    assert specs.spec("adam") == specs.ClassicSpec(name="adam")
    assert specs.spec("prodigy") == specs.OptaxSpec(name="prodigy")
    assert specs.spec("adamw") == specs.OptaxSpec(name="adamw")
    assert specs.spec("mnist-lstm") == specs.LearnedSpec(path="mnist-lstm")
    with pytest.raises(ConfigError, match="'prodigi' names no rule .* Did you mean 'prodigy'"):
        specs.spec("prodigi")


def test_arguments_and_defaults_are_the_factories():
    assert specs.spec("adam").default("learning_rate") == 1e-3
    # optax.adam has no default step size: l2l's rule of the same name stands in.
    adam = specs.spec({"kind": "optax", "name": "adam"})
    assert adam.default("learning_rate") == 1e-3 and adam.default("b2") == 0.999
    assert specs.spec({"kind": "optax", "name": "adamw"}).default("learning_rate") is None
    free = specs.spec("schedule_free_adamw")
    assert free.default("learning_rate") == 0.0025
    dog = specs.spec("dog")
    assert dog.default("reps_rel") == 1e-6 and dog.default("init_learning_rate") is None
    stack = specs.spec({"kind": "stack", "levels": [{"optimizer": "sgd"}, "sgd"]})
    assert stack.default("learning_rate") == 0.01  # the rule's, at the bottom of a stack
    with pytest.raises(ValueError, match="optax's adamw needs learning_rate"):
        specs.spec({"kind": "optax", "name": "adamw"}).build()


def test_step_size_readers_read_the_state(quadratic_updates):
    prodigy = specs.spec("prodigy")
    _, state = quadratic_updates(prodigy.build(learning_rate=0.5), 3)
    estimate = state[0].estim_lr if hasattr(state[0], "estim_lr") else state.estim_lr
    reader = prodigy.step_size({"learning_rate": 0.5})
    assert float(reader(state)) == pytest.approx(0.5 * float(estimate))
    stack = specs.spec({"kind": "stack", "levels": ["sgd", "sgd"]})
    _, state = quadratic_updates(stack.build(learning_rate=0.3), 3)
    reader = stack.step_size({})
    assert float(reader(state)) == float(hyper.hyperparams(state)[0]["learning_rate"]) != 0.3
    assert float(specs.spec("adam").step_size({"learning_rate": 0.2})(None)) == pytest.approx(0.2)
    assert specs.spec("cocob").step_size({}) is None


def test_the_structure_of_a_program_blanks_only_the_traced_numbers():
    def stack(bottom, top):
        levels = [
            {"optimizer": "sgd", "hyperparams": {"learning_rate": bottom}},
            {"optimizer": "sgd", "hyperparams": {"learning_rate": top}},
        ]
        return specs.spec({"kind": "stack", "levels": levels})

    # The bottom's step size traced: the top's is a constant of the program.
    assert stack(0.1, 0.2).structure({"learning_rate"}) == stack(0.3, 0.2).structure(
        {"learning_rate"}
    )
    assert stack(0.1, 0.2).structure({"learning_rate"}) != stack(0.1, 0.3).structure(
        {"learning_rate"}
    )
    assert stack(0.1, 0.2).structure({"levels"}) == stack(0.3, 0.4).structure({"levels"})
    # A wrapper's traced name that it does not take is its base's.
    mech = {"kind": "optax", "name": "mechanize"}
    a = specs.spec({**mech, "base": {"kind": "optax", "name": "adam", "hyperparams": {"b1": 0.8}}})
    b = specs.spec({**mech, "base": {"kind": "optax", "name": "adam", "hyperparams": {"b1": 0.7}}})
    assert a.structure({"learning_rate"}) != b.structure({"learning_rate"})
    assert a.structure({"b1"}) == b.structure({"b1"})
    labelled = specs.ClassicSpec(name="sgd", label="plain SGD")
    assert labelled.structure() == specs.ClassicSpec(name="sgd").structure()


@pytest.mark.parametrize(
    "written, expected",
    [
        ({"kind": "optax", "name": "prodigy", "hyperparams": {"estim_lr": 1}},
         "optax's prodigy has no argument 'estim_lr'. Did you mean 'estim_lr0'"),
        ({"kind": "optax", "name": "mechanize"}, "wraps an optimizer: give it as `base:`"),
        ({"kind": "optax", "name": "adam", "base": "sgd"}, "adam wraps no optimizer"),
        ({"kind": "optax", "name": "adamq"}, "no optax or optax.contrib factory named 'adamq'"),
        ({"kind": "classic", "name": "sgd", "hyperparams": {"momentum": 0.9}},
         "no hyperparameter 'momentum'"),
        ({"kind": "stack", "levels": []}, "a stack needs at least one level"),
        ({"kind": "stack", "levels": ["sgd", "sgd"], "mode": "sideways"}, "mode='sideways'"),
        ({"kind": "learned", "path": "nowhere.l2l"}, "learned optimizer 'nowhere.l2l'"),
        ({"kind": "optax", "name": "dog", "hyperparams": {"reps_rel": 1e-6,
          "init_learning_rate": 1e-3}}, "DoG's init_step is one of"),
    ],
)  # fmt: skip
def test_bad_specs_are_one_line_errors(written, expected):
    with pytest.raises(ConfigError) as err:
        specs.spec(written)
    assert expected in str(err.value) and len(str(err.value).splitlines()) == 1


def test_schedule_spec_is_optax_adam_on_a_warmup_cosine_schedule_with_a_traced_peak():
    import yaml

    import l2l.specs.schedule
    from l2l.specs import ScheduleSpec

    schedule = specs.spec({"kind": "schedule", "base": "adam", "warmup": 0.1})
    assert isinstance(schedule, ScheduleSpec) and schedule.display_label == "adam, warmup + cosine"
    with pytest.raises(ValueError, match="needs its horizon"):
        schedule.build(learning_rate=0.1)
    steps, peak = 30, 0.05
    reference = optax.adam(optax.warmup_cosine_decay_schedule(0.0, peak, 3, steps, 0.0))
    expected, _ = _run(reference, steps)
    # The peak is traced (a sweep's value): the runner's program is one for every peak.
    built = jax.jit(lambda lr: _run(schedule.at_horizon(steps).build(learning_rate=lr), steps)[0])
    np.testing.assert_allclose(np.asarray(built(peak)), np.asarray(expected), rtol=1e-6, atol=1e-9)
    # The docstring's two forms build.
    doc = l2l.specs.schedule.__doc__
    for line in [x.split("#")[0] for x in doc.splitlines() if x.startswith("    {kind: schedule")]:
        spec = specs.spec(yaml.safe_load(line))
        assert spec.at_horizon(10).build(learning_rate=0.1) is not None
    assert specs.spec(yaml.safe_load(line)).base.hyperparams == {"momentum": 0.9}


def _run(optimizer, steps):
    """``steps`` updates of ``optimizer`` on sum(x^2) from x = (1, -2, 3): the iterates."""
    import jax.numpy as jnp

    x = jnp.asarray([1.0, -2.0, 3.0])
    state = optimizer.init(x)
    out = []
    for _ in range(steps):
        updates, state = optimizer.update(2 * x, state, x)
        x = optax.apply_updates(x, updates)
        out.append(x)
    return jnp.stack(out), state
