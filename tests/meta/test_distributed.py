"""Meta-training split over several devices computes what one device computes.

XLA_FLAGS must be set before JAX starts, and pytest's own process has one CPU device, so the
sharded runs happen in a child process with --xla_force_host_platform_device_count=4.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from l2l.config import ConfigError
from l2l.meta import distributed

CHILD = textwrap.dedent(
    """
    import dataclasses, json, sys
    from pathlib import Path

    import jax
    import numpy as np

    from l2l.tasks import QuadraticConfig
    from l2l.learned import FeatureConfig, LSTMOptimizerConfig
    from l2l import meta as meta_lib
    from l2l.meta.distributed import DistributedConfig
    from l2l.tasks import Quadratic

    out = Path(sys.argv[1])
    assert jax.device_count() == 4, jax.devices()
    cfg = meta_lib.MetaTrainConfig(
        task=QuadraticConfig(dim=2),
        optimizer=LSTMOptimizerConfig(
            hidden_sizes=(3,), features=FeatureConfig(kind="identity"), output_init_scale=0.3
        ),
        horizon=4, truncation=2, batch_size=4, meta_steps=6, eval_every=3, checkpoint_every=2,
        eval_instances=4,
    )

    def on(devices, name, **kw):
        return dataclasses.replace(
            cfg, output_dir=str(out / name), distributed=DistributedConfig(devices=devices), **kw
        )

    single = meta_lib.train(on(1, "single"), show_progress=False)
    first = meta_lib.train(on(4, "sharded"), show_progress=False, stop_after=3)  # "killed"
    resumed = meta_lib.train(on(4, "sharded"), show_progress=False)  # resumes at step 3

    # PES carries more per instance (particles, accumulated perturbations): a few meta-steps.
    pes = {}
    for devices in (1, 4):
        pes_cfg = on(devices, "pes", estimator="pes", es_pairs=2)
        tr = meta_lib.make_trainer(pes_cfg, Quadratic(dim=2))
        state = tr.init()
        for _ in range(3):
            state, _ = tr.step(state)
        pes[devices] = state
    flat = lambda tree: np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])
    np.savez(
        out / "result.npz",
        single=flat(single.meta_params),
        resumed=flat(resumed.meta_params),
        single_best=flat(single.best_meta_params),
        resumed_best=flat(resumed.best_meta_params),
        pes_single=flat(pes[1].meta_params),
        pes_sharded=flat(pes[4].meta_params),
        pes_xi_single=flat(pes[1].perturbation),
        pes_xi_sharded=flat(pes[4].perturbation),
    )
    print(json.dumps({
        "first_steps": first.steps,
        "resumed_steps": resumed.steps,
        "best_steps": [single.best_step, resumed.best_step],
        "mesh": int(pes[4].unroll.params.sharding.mesh.size),
        "params_spec": str(pes[4].unroll.params.sharding.spec),
        "xi_shards": len(jax.tree.leaves(pes[4].perturbation)[0].addressable_shards),
        "meta_spec": str(jax.tree.leaves(pes[4].meta_params)[0].sharding.spec),
    }))
    """
)


def test_meta_training_on_four_devices_equals_one_device_and_resumes(tmp_path):
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    env = dict(os.environ, XLA_FLAGS=flags.strip())
    env.pop("JAX_COORDINATOR_ADDRESS", None)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    info = json.loads(child.stdout.strip().splitlines()[-1])
    assert info["first_steps"] == 3 and info["resumed_steps"] == 6
    # The batch really was split: 4 devices, the instance axis sharded, meta-params replicated.
    assert info["mesh"] == 4 and info["xi_shards"] == 4
    assert "batch" in info["params_spec"] and "batch" not in info["meta_spec"]
    r = np.load(tmp_path / "result.npz")
    # Same numbers up to the order of the batch sums (float32 rounding, a few ulp per step).
    np.testing.assert_allclose(r["resumed"], r["single"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["resumed_best"], r["single_best"], rtol=1e-5, atol=1e-6)
    assert info["best_steps"][0] == info["best_steps"][1]
    np.testing.assert_allclose(r["pes_sharded"], r["pes_single"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["pes_xi_sharded"], r["pes_xi_single"], rtol=1e-6, atol=1e-9)
    assert (tmp_path / "sharded" / "best.l2l").exists()


def test_the_mesh_takes_every_device_that_divides_the_batch():
    mesh = distributed.make_mesh(batch_size=6)
    assert mesh.axis_names == ("batch",) and mesh.size == jax.device_count() == 1
    with pytest.raises(ConfigError, match="only 1 devices are visible"):
        distributed.make_mesh(batch_size=6, devices=2)


def test_process_settings_come_from_the_config_or_the_environment(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    cfg = distributed.DistributedConfig()
    assert distributed.process_settings(cfg) is None  # one process: nothing to join
    explicit = distributed.DistributedConfig(
        coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1
    )
    assert distributed.process_settings(explicit) == ("10.0.0.1:1234", 2, 1)
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:9999")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert distributed.process_settings(cfg) == ("localhost:9999", 4, 3)
    assert distributed.process_settings(explicit) == ("10.0.0.1:1234", 2, 1)  # config wins
    monkeypatch.delenv("JAX_NUM_PROCESSES")
    with pytest.raises(ConfigError, match="number of processes"):
        distributed.process_settings(cfg)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    with pytest.raises(ConfigError, match="process_id 3 is not in"):
        distributed.process_settings(cfg)
