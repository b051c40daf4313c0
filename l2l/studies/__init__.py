"""Studies that make optimizers visible: response curves to gradient signals, races on 2-D surfaces.

``response_curves(transforms, signals)`` and ``race(transforms, surface, start, steps)`` take any
optax transforms (label -> transform); the ``*Config`` classes, ``run_*`` and ``write_*`` are what
``l2l study responses|surfaces CONFIG`` calls.
"""

from l2l.studies.races import (
    CLASSIC_RACE,
    SurfaceStudyConfig,
    format_race_table,
    race,
    run_surface_study,
    values_along,
    write_surface_study,
)
from l2l.studies.responses import (
    SIGNALS,
    ResponseFigureConfig,
    ResponseStudyConfig,
    make_signals,
    read_signal,
    response_curves,
    run_response_study,
    write_response_study,
)
from l2l.studies.specs import OptimizerSpec

__all__ = [
    "CLASSIC_RACE",
    "SIGNALS",
    "OptimizerSpec",
    "ResponseFigureConfig",
    "ResponseStudyConfig",
    "SurfaceStudyConfig",
    "format_race_table",
    "make_signals",
    "race",
    "read_signal",
    "response_curves",
    "run_response_study",
    "run_surface_study",
    "values_along",
    "write_response_study",
    "write_surface_study",
]
