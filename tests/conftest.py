"""Settings for the whole suite, made before any test compiles anything.

XLA compilation is most of the suite's time, and many tests compile the same program again (a
resumed meta-training run, the same tiny task under another test's closure). JAX's persistent
compilation cache, in a directory of this process's own (each xdist worker has one, so no two
processes write an entry at once) that is removed at exit, compiles each distinct program once per
process; the subprocesses that tests start (the examples, the CLI) inherit it. A cached executable
is the one a fresh compile gives: no number changes. Measured on the 2-core CPU (a shared machine
whose runs of the same suite vary by a sixth): 504 s without it, 397-464 s with it in four runs.

Tried and not kept: one directory shared by both workers (it needs JAX's size cap for the file
lock, and the cap makes every write scan the directory: slower than compiling twice);
``--xla_llvm_disable_expensive_passes`` (20 % off two test files run alone, nothing measurable on
the whole suite); ``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` (a third off, but a NaN gradient in the
float64 batch-norm conv test).
"""

import atexit
import os
import shutil
import tempfile

import jax

_SETTINGS = {
    "jax_compilation_cache_dir": tempfile.mkdtemp(prefix="l2l-tests-xla-cache-"),
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
atexit.register(shutil.rmtree, _SETTINGS["jax_compilation_cache_dir"], ignore_errors=True)
for name, value in _SETTINGS.items():
    os.environ[name.upper()] = str(value)  # For the subprocesses.
    jax.config.update(name, value)
