"""The template context is what docs/templates.md says, key for key, and a template that
misuses it fails in one line naming the template's file and line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from doc_tables import disagreements
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.reporting import PLOT_QUERIES, ReportOptions, link_plots, report_context
from budgetdb.store import open_store
from budgetdb.templates import TemplateError, render

from builders import add_config_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "templates.md"
A = "analyses[]"
PATHS = {
    "context": ("",),
    "scope": ("scope",),
    "in_scope": ("scope.in_scope",),
    "alpha": ("alpha",),
    "uncertainty": ("uncertainty",),
    "analysis": (f"{A}",),
    "prefill": (f"{A}.prefill",),
    "interval": (f"{A}.prefill.intervals[]", f"{A}.datasets[].stability.hi.acc", f"{A}.lookup[].extra.delta.interval"),
    "prefill_range": (f"{A}.prefill_range",),
    "decode": (f"{A}.decode",),
    "dataset": (f"{A}.datasets[]",),
    "frontier": (f"{A}.datasets[].frontier",),
    "point": (f"{A}.datasets[].frontier.hi", f"{A}.datasets[].frontier.lo", f"{A}.lookup[].point"),
    "frontier_point": (f"{A}.datasets[].frontier_points[]",),
    "note": (f"{A}.datasets[].notes[]",),
    "plots": (f"{A}.plots",),
    "plot": (f"{A}.plots.prefill", f"{A}.plots.lookup", f"{A}.datasets[].plot"),
    "stability": (f"{A}.datasets[].stability",),
    "frontier_end": (f"{A}.datasets[].stability.hi", f"{A}.datasets[].stability.lo"),
    "aggregate": (f"{A}.aggregate",),
    "budget": (f"{A}.budget",),
    "budget_entry": (f"{A}.budget.entries[]",),
    "lookup_row": (f"{A}.lookup[]",),
    "lookup_extra": (f"{A}.lookup[].extra",),
    "runner_up": (f"{A}.lookup[].extra.runner_up",),
    "delta": (f"{A}.lookup[].extra.delta",),
    "attainment": (f"{A}.lookup[].extra.attainment",),
    "measure_next": (f"{A}.measure_next",),
    "measure_item": (f"{A}.measure_next.items[]",),
    "config": (f"{A}.measure_next.items[].config", f"{A}.measure_next.items[].rival"),
    "footer": ("footer",),
    "footer_files": ("footer.files",),
    "excluded_files": ("footer.files.excluded[]",),
    "footer_samples": ("footer.samples",),
    "footer_points": ("footer.points",),
    "query": ("footer.queries[]",),
    "numpy_step": ("footer.queries[].numpy",),
}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The context of the demo's report with plots and uncertainty: every object there is."""
    folder = tmp_path_factory.mktemp("context")
    tree = demo.write_demo_tree(folder, samples=6480, seed=3).root
    db = folder / "demo.duckdb"
    assert CliRunner().invoke(app, ["ingest", str(tree), "--db", str(db)]).exit_code == 0
    with open_store(db, read_only=False) as con:  # a point the frontier leaves out: a dataset's note
        add_config_run(con, dataset="okvqa", tier="low", top_k=2, blocks=9, samples={"accuracy": [math.nan], "T_total": [90.0]})
    pytest.importorskip("matplotlib")
    from budgetdb import plots

    options = ReportOptions(resamples=50, plots_dir=folder / "plots", budgetdb_version="test")
    with open_store(db, read_only=True) as con:
        found, records = report_context(con, options, PLOT_QUERIES)
    link_plots(found, plots.write_plots(found, records, options))
    return found


def test_the_page_lists_every_key_of_every_object_and_no_other(context):
    top = {key: value for key, value in context.items() if key in {"lang", "scope", "alpha", "uncertainty", "analyses", "footer"}}
    assert disagreements(DOC, top, PATHS) == []
    # the first analysis' keys are at the top level too, and nothing else is
    assert set(context) == set(top) | set(context["analyses"][0])
    assert all(context[key] == value for key, value in context["analyses"][0].items())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ budget.values|tojson }}", "tpl.md.j2:2: no key 'values' here; the keys are: lower, upper, amounts"),
        ("{{ budget.amounts[0] }}", "tpl.md.j2:2: a template printed the raw float"),
        ("{{ decode.nope|dec1 }}", "tpl.md.j2:2: no key 'nope' here"),
        ("{{ 1 / 0 }}", "tpl.md.j2:2 failed: ZeroDivisionError: division by zero"),
        ("{% for x in %}", "tpl.md.j2:2: Expected an expression"),
        ("{{ (lang|replace('zh', 'nan')|float)|tojson }}", "tpl.md.j2:2 failed: ValueError: Out of range float values"),
        ("{% include '_nope.md.j2' %}", "tpl.md.j2:2: template '_nope.md.j2' not found in"),
        ("{% if budget.uper is none %}{% endif %}", "tpl.md.j2:2: no key 'uper' here; the keys are: lower, upper"),
        ("{{ budget.amounts }}", "tpl.md.j2:2: a template printed a list (["),
        ("{{ prefill.intervals[0] }}", "tpl.md.j2:2: a template printed a dict ({"),
        ("{{ datasets.count }}", "tpl.md.j2:2: a template printed a function or method (<built-in met"),
        ("{{ 'a'|ljust(nope) }}", "tpl.md.j2:2: 'nope' is undefined"),
        ("{{ 'a'|ljust(width=budget.widht) }}", "tpl.md.j2:2: no key 'widht' here"),
        ("{{ budget.lower|fixed(digits=1) }}{{ nope }}", "tpl.md.j2:2: 'nope' is undefined"),
        ("{{ budget['values'] }}", "tpl.md.j2:2: no key 'values' here; the keys are: lower, upper, amounts"),
        ("{{ datasets|map(attribute='items')|join }}", "tpl.md.j2:2: no key 'items' here"),
        ("{{ datasets|sort(attribute='nmae')|length }}", "tpl.md.j2:2: no key 'nmae' here; the keys are: name, display"),
    ],
)
def test_a_template_that_misuses_the_context_fails_in_one_line_naming_its_line(context, tmp_path, template, message):
    (tmp_path / "tpl.md.j2").write_text("first line\n" + template + "\n", "utf-8")
    with pytest.raises(TemplateError) as raised:
        render("tpl.md.j2", context, [tmp_path])
    text = str(raised.value)
    assert message in text and "\n" not in text


def test_a_template_of_any_file_name_is_named_with_its_line(context, tmp_path):
    (tmp_path / "report.md").write_text("first\n{% include 'part.txt' %}\n", "utf-8")
    (tmp_path / "part.txt").write_text("a\nb\n{{ 1 / 0 }}\n", "utf-8")
    with pytest.raises(TemplateError, match=r"part\.txt:3 failed: ZeroDivisionError"):
        render("report.md", context, [tmp_path])


def test_a_partial_that_is_not_utf8_is_named(context, tmp_path):
    (tmp_path / "report.md.j2").write_text("first\n{% include '_part.md.j2' %}\n", "utf-8")
    (tmp_path / "_part.md.j2").write_bytes(b"\xff\xfe")
    with pytest.raises(TemplateError, match=r"^template '_part\.md\.j2' \(searched in .*\) is not UTF-8 text"):
        render("report.md.j2", context, [tmp_path])
