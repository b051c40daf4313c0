"""The documentation site's sources: every page in the navigation, the API reference covering the
public modules, the concept pages' code running (their ``pycon`` blocks are doctests), and the
examples' recorded outputs matching the examples' code.

``mkdocs build --strict`` (CI, with the docs extra) checks links, anchors and references; these
tests need nothing beyond the dev extra.
"""

import doctest
import importlib.util
import json
import re
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up
    spec.loader.exec_module(module)
    return module


examples_hook = _hook("examples")
api_hook = _hook("api")

PUBLIC_MODULES = [
    "l2l",
    "l2l.optimizers",
    "l2l.learned",
    "l2l.hyper",
    "l2l.tasks",
    "l2l.unroll",
    "l2l.evaluate",
    "l2l.meta",
    "l2l.data",
]
CONCEPT_PAGES = sorted((DOCS / "concepts").glob("*.md"))


def nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in nav_pages(item)]
    return [page for value in node.values() for page in nav_pages(value)]


def test_every_page_is_in_the_navigation():
    site = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = nav_pages(site["nav"])
    assert len(nav) == len(set(nav)), "a page is in the navigation twice"
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    generated = {f"examples/{name}.md" for name in examples_hook.example_names()}
    assert set(nav) == written | generated


def test_the_api_reference_covers_the_public_modules():
    pages = "".join(p.read_text() for p in DOCS.glob("api/*.md"))
    documented = re.findall(r"^::: ([\w.]+)$", pages, flags=re.M)
    assert set(PUBLIC_MODULES) <= set(documented)


def test_the_api_pages_document_names_shadowed_by_a_module():
    """griffe lists the module where a package exports a function of the module's name; the hook
    adds those functions' entries (and the build checks that every public name has one)."""
    pages = "".join(p.read_text() for p in DOCS.glob("api/*.md"))
    entries = api_hook.shadowed_entries(pages)
    assert "l2l.optimizers.momentum.momentum" in entries  # (also stack, mlp_optimizer, ... today)
    assert all(path.split(".")[-1] == path.split(".")[-2] for path in entries)
    assert api_hook.public_names("l2l.optimizers")["adam"] == "l2l.optimizers.adam"


@pytest.mark.parametrize("name", examples_hook.example_names())
def test_example_pages_show_the_outputs_of_the_current_code(name):
    """The recorded outputs were made by the code the page shows (re-record: the hook's script)."""
    assert examples_hook.stale_cells(name) == []
    page = examples_hook.page(name)
    cells = examples_hook.cells((ROOT / "examples" / f"{name}.py").read_text())
    assert page.count("```python\n") == sum(c.kind == "code" for c in cells)


def test_example_cells():
    text = "# %% [markdown]\n# # Title\n#\n# Text.\n\n# %%\nx = 1\n\n# %%\nprint(x)\n"
    assert examples_hook.cells(text) == [
        examples_hook.Cell("markdown", "# Title\n\nText."),
        examples_hook.Cell("code", "x = 1"),
        examples_hook.Cell("code", "print(x)"),
    ]


@pytest.mark.parametrize("page", CONCEPT_PAGES, ids=lambda p: p.stem)
def test_concept_page_code_runs(page):
    """Its ``python`` blocks run and its ``pycon`` blocks are doctests, in order, one namespace."""
    namespace: dict = {"__name__": "__page__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report: list[str] = []
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", page.read_text(), flags=re.S | re.M)
    for number, (language, code) in enumerate(blocks):
        if language == "python":
            exec(compile(code, f"{page.name}, block {number}", "exec"), namespace)
        elif language == "pycon":
            test = parser.get_doctest(code, namespace, f"{page.name}, block {number}", None, 0)
            runner.run(test, out=report.append, clear_globs=False)
            namespace.update(test.globs)  # a doctest runs in a copy of the namespace
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
    assert results.attempted >= 2, f"{page.name} checks nothing it prints"


def test_throughput_page_shows_its_results_file(capsys):
    """docs/throughput.md's table is what ``bench_meta_train.py --show`` prints from
    docs/results/throughput.json, the file the recorded bench run wrote, and its floors paragraph
    quotes that file's numbers."""
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench_meta_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = json.loads((DOCS / "results" / "throughput.json").read_text())
    bench.show_table(results)
    table = capsys.readouterr().out.strip()
    page = (DOCS / "throughput.md").read_text()
    assert table in page
    assert [row["row"] for row in results["rows"]] == [name for name, _, _ in bench.ROWS]
    rows = {row["row"]: row for row in results["rows"]}
    for name, field, shown in FLOORS_QUOTED:
        value = rows[name]["speedup"] if field == "speedup" else rows[name]["after"][field]
        assert shown(value) in page, (name, field, shown(value))


#: The numbers the floors paragraph of docs/throughput.md quotes: (row, field, as written).
FLOORS_QUOTED = [
    ("MLP, MNIST MLP", "speedup", lambda v: f"{v:.2f}x"),
    ("MLP, MNIST MLP", "utilization_of_matmul", lambda v: f"{100 * v:.1f} %"),
    ("MLP, Fashion-MNIST mix", "speedup", lambda v: f"{v:.2f}x"),
    ("MLP, Fashion-MNIST mix", "utilization_of_matmul", lambda v: f"{100 * v:.1f} %"),
    ("LSTM, quadratics", "utilization_of_matmul", lambda v: f"{100 * v:.1f} %"),
]


def test_benchmark_pages_show_their_results_files():
    """docs/benchmark.md and the README show the benchmark's tables as the committed results make
    them (``benchmark.write_docs`` writes them), every table somewhere."""
    from l2l.experiments import benchmark

    tables = benchmark.documented_tables(ROOT)
    shown = set()
    for page in (DOCS / "benchmark.md", ROOT / "README.md"):
        text = page.read_text()
        assert benchmark.fill_tables(text, tables) == text, f"{page.name} differs from its results"
        shown |= {name for name in tables if f"<!-- table: {name} " in text}
    assert shown == set(tables)
    # The figure beside the tables is the committed report's.
    assert (DOCS / "benchmark_profile.png").stat().st_size < 200_000


def test_general_lopt_page_shows_its_results_files():
    """docs/general_lopt.md shows every table its two results files make (the meta-training
    record and the benchmark report holding the optimizer's rows); the zoo ships the seed whose
    validation score on the meta-training distribution is best, and every seed's file is
    committed."""
    from l2l import learned
    from l2l.experiments import benchmark, general_lopt

    tables = general_lopt.documented_tables(ROOT)
    text = (DOCS / "general_lopt.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "general_lopt.md differs from its results"
    assert {name for name in tables if f"<!-- table: {name} " in text} == set(tables)
    training = json.loads((ROOT / general_lopt.TRAINING_RESULTS).read_text())
    seeds = general_lopt.seed_labels(general_lopt.combined(ROOT))
    assert set(seeds) <= set(training) and len(seeds) >= 3
    best = general_lopt.chosen(training, seeds)
    shipped = learned.zoo.resolve(general_lopt.ZOO_NAME)
    committed = learned.read(ROOT / general_lopt.SEED_FILE.format(seed=training[best]["seed"]))
    for a, b in zip(jax.tree.leaves(shipped.meta_params), jax.tree.leaves(committed.meta_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (DOCS / "general_lopt_training.png").stat().st_size < 200_000
    # The prose's lists of tasks: where the shipped optimizer wins, and where it is above 2x.
    ratios = general_lopt.task_ratios(general_lopt.combined(ROOT), general_lopt.ZOO_NAME)
    assert {t for t, r in ratios.items() if r < 1} == {
        "noisy-quadratic",
        "mlp-mnist-8x8-relu",
        "mlp-fashion-8x8-tanh",
        "mlp-fashion-wide-relu",
        "mlp-fashion-8x8-reparam",
        "rnn-markov",
        "rnn-markov-wide",
    }
    assert {t for t, r in ratios.items() if r > 2} == {
        "quadratic-10d",
        "quadratic-10d-long",
        "autoencoder-mnist-8x8",
        "autoencoder-fashion",
    }


def test_no_tuning_suite_page_shows_its_results_file():
    """docs/no_tuning_suite.md shows every table the committed results make, and the shares its
    prose quotes are those of the results."""
    from l2l.experiments import benchmark, no_tuning_suite

    tables = no_tuning_suite.documented_tables(ROOT)
    text = (DOCS / "no_tuning_suite.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "the page differs from its results"
    assert {name for name in tables if f"<!-- table: {name} " in text} == set(tables)
    data = json.loads((ROOT / no_tuning_suite.RESULTS).read_text())
    summaries = data["summaries"]
    stack = summaries["Adam / SGD"]["within"]
    quoted = [
        f"{stack['value']:.0%} [{stack['low']:.0%}, {stack['high']:.0%}]",
        f"against {summaries['Adam']['within']['value']:.0%} for plain Adam",
        f"keeps it on {summaries['Prodigy, d0 = m α*']['within']['value']:.0%}",
        f"m = 10: {summaries['Adam / SGD']['per_start']['10']:.0%}",
        f"worse there ({summaries['Prodigy, d0 = m α*']['per_start']['10']:.0%})",
        f"than one-step ({summaries['Adam / SGD, whole run']['within']['value']:.0%})",
        f"from 10x ({summaries['Adam / SGD, whole run']['per_start']['10']:.0%})",
    ]
    guarded = summaries["Adam / SGD, loss guard"]
    quoted += [
        f"keeps the promise on {guarded['within']['value']:.0%} [{guarded['within']['low']:.0%}, "
        f"{guarded['within']['high']:.0%}] of the pairs",
        f"({guarded['per_start']['10']:.0%} from 10x, against "
        f"{summaries['Adam / SGD']['per_start']['10']:.0%})",
    ]
    prose = " ".join(text.replace(" %", "%").split())
    for phrase in quoted:
        assert phrase in prose, f"docs/no_tuning_suite.md no longer quotes {phrase!r}"
    readme = " ".join((ROOT / "README.md").read_text().replace(" %", "%").split())
    assert (
        f"with the loss guard {guarded['within']['value']:.0%} [{guarded['within']['low']:.0%}, "
        f"{guarded['within']['high']:.0%}]" in readme
    ), "README.md no longer quotes the loss guard's share"
    for phrase in (
        f"{stack['value']:.0%} [{stack['low']:.0%}, {stack['high']:.0%}] of the 90",
        f"against {summaries['Adam']['within']['value']:.0%} for plain Adam",
        f"and {summaries['Prodigy, d0 = m α*']['within']['value']:.0%} for Prodigy",
        f"from 10x ({summaries['Adam / SGD']['per_start']['10']:.0%})",
        f"do worse ({summaries['Adam / SGD, whole run']['within']['value']:.0%})",
    ):
        assert phrase in readme, f"README.md no longer quotes {phrase!r}"
    assert (DOCS / "no_tuning_suite_steps.png").stat().st_size < 200_000


def test_hyperoptimizers_page_shows_the_default_stacks_results_files():
    """The MNIST robustness table of docs/hyperoptimizers.md is hyper_mnist.defaults_table of the
    committed results of configs/hyper_defaults.yaml, its short-horizon table
    short_horizon_report.bias_table of those of configs/short_horizon.yaml."""
    from l2l.experiments import benchmark, hyper_mnist, short_horizon_report

    tables = {
        **hyper_mnist.documented_tables(ROOT),
        **short_horizon_report.documented_tables(ROOT),
    }
    text = (DOCS / "hyperoptimizers.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, (
        "hyperoptimizers.md differs from its results"
    )
    assert all(f"<!-- table: {name} " in text for name in tables)
    chandra = json.loads((ROOT / hyper_mnist.TABLE_RESULTS).read_text())
    rows = {r["name"]: r for r in chandra["rows"]}
    prose = " ".join(text.split())
    for name, plain in (("SGD / SGD(0.01)", "SGD(0.01)"), ("Adam / SGD(1e-5)", "Adam(1e-3)")):
        vs = rows[name]["vs_baseline"]
        phrase = f"beats {plain} by {-vs['mean']:.2f} ± {vs['sd']:.2f}"
        assert phrase in prose, f"hyperoptimizers.md no longer quotes {phrase!r}"
    spreads = [c["spread_decades"] for c in chandra["robustness"]["curves"].values()]
    phrase = ", ".join(f"{x:.2f}" for x in spreads[:-1]) + f" and {spreads[-1]:.2f} decades"
    assert phrase in prose, f"hyperoptimizers.md no longer quotes {phrase!r}"


def test_no_tuning_page_shows_its_results_file():
    """docs/no_tuning.md's two tables are no_tuning_report's tables of the committed report."""
    from l2l.experiments import benchmark, no_tuning

    tables = no_tuning.documented_tables(ROOT)
    text = (DOCS / "no_tuning.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "no_tuning.md differs from its results"
    assert all(f"<!-- table: {name} " in text for name in tables)
    report = json.loads((ROOT / no_tuning.RESULTS).read_text())
    assert report["most_robust"] == "Adam / SGD, one-step"  # what the page's prose names
    assert "**Most robust: Adam / SGD with one-step hypergradients**" in text


def _ratios_from_runs(panel: dict) -> dict[str, float]:
    """An ``l2l evaluate`` panel's learned optimizers' ratios recomputed from its per-run summed
    losses: each one's mean over the lowest baseline mean."""
    results = panel["comparison"]["results"]
    best = min(np.mean(r["summed_losses"]) for r in results if not r.get("learned"))
    return {r["name"]: np.mean(r["summed_losses"]) / best for r in results if r.get("learned")}


def test_mnist_page_shows_its_results_file_and_the_zoo_files_agree_with_it():
    """docs/mnist.md's generalization table is evaluate.settings_table_of the committed results;
    the zoo files of the three MNIST LSTMs, written from an earlier run by scripts/zoo_add.py,
    carry the same ratio per setting."""
    from l2l import learned
    from l2l.experiments import benchmark, evaluate

    tables = evaluate.documented_tables(ROOT)
    text = (DOCS / "mnist.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "mnist.md differs from its results"
    assert "<!-- table: mnist-generalization " in text
    data = json.loads((ROOT / evaluate.MNIST_RESULTS).read_text())
    for name in ("mnist-lstm", "mnist-mix-lstm", "mnist-moments-lstm"):
        info = learned.read(ROOT / "l2l" / "zoo" / f"{name}.l2l").info
        saved = info["generalization_ratio_to_best_baseline"]
        for panel in data["panels"]:
            ratio = _ratios_from_runs(panel)[name]
            np.testing.assert_allclose(ratio, saved[panel["name"]], rtol=1e-6, err_msg=name)


def test_learned_mlp_page_shows_the_generalization_matrix_results_file():
    """docs/learned_mlp.md's matrix is evaluate.matrix_table of the committed results, whose every
    mean is the mean of its held-out runs, and whose cells the prose quotes."""
    from l2l.experiments import benchmark, evaluate

    tables = evaluate.documented_tables(ROOT)
    text = (DOCS / "learned_mlp.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "learned_mlp.md differs from its results"
    assert "<!-- table: generalization-matrix " in text
    data = json.loads((ROOT / evaluate.MATRIX_RESULTS).read_text())
    ratios = {}
    for panel in data["panels"]:
        results = panel["comparison"]["results"]
        assert len(results) == 9 and all(len(r["summed_losses"]) == 8 for r in results)
        for r in results:
            np.testing.assert_allclose(r["mean_summed_loss"], np.mean(r["summed_losses"]))
        for name, ratio in _ratios_from_runs(panel).items():
            ratios[panel["name"], name] = ratio
    mix = [ratios[column, "fashion-mix-mlp-lopt"] for column in ("MNIST conv", "Fashion conv")]
    mix_columns = [column for column, name in ratios if name == "fashion-mix-mlp-lopt"]
    assert sum(ratios[c, "fashion-mix-mlp-lopt"] <= 1.0 for c in mix_columns) == 5  # "5 of the 7"
    quoted = [
        f"on its own task ({ratios['MNIST MLP', 'mnist-mlp-lopt']:.3f}x)",
        f"on 10x its horizon ({ratios['1000 steps', 'mnist-mlp-lopt']:.3f}x)",
        f"{max(mix):.2f}x on both conv nets",
        f"{ratios['ReLU', 'fashion-mix-mlp-lopt']:.2f}x on ReLU",
    ]
    prose = " ".join(text.split())
    for phrase in quoted:
        assert phrase in prose, f"docs/learned_mlp.md no longer quotes {phrase!r}"


def test_quadratics_page_shows_its_results_files_and_the_zoo_file_agrees():
    """docs/quadratics.md's three tables are made from the committed l2l evaluate runs, and the
    zoo's quadratic-lstm, written from an earlier run, holds the same held-out means."""
    from l2l import learned
    from l2l.experiments import benchmark, evaluate

    tables = evaluate.documented_tables(ROOT)
    text = (DOCS / "quadratics.md").read_text()
    assert benchmark.fill_tables(text, tables) == text, "quadratics.md differs from its results"
    for name in ("quadratic-baselines", "quadratic-lstm-eval", "quadratic-settings"):
        assert f"<!-- table: {name} " in text
    data = json.loads((ROOT / evaluate.DOCUMENTED["quadratic-lstm-eval"][0]).read_text())
    held_out = learned.read(ROOT / "l2l" / "zoo" / "quadratic-lstm.l2l").info["held_out"]
    for r in data["panels"][0]["comparison"]["results"]:
        np.testing.assert_allclose(np.mean(r["summed_losses"]), r["mean_summed_loss"])
        np.testing.assert_allclose(
            r["mean_summed_loss"], held_out["mean_summed_loss"][r["name"]], rtol=1e-6
        )
