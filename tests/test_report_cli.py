"""`budgetdb report` from the command line (in-process)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app

from cli_support import imports
from report_helpers import run, store_with

OPTIONS = (
    "--db",
    "--lang",
    "--out",
    "--hardware",
    "--experiment",
    "--dataset",
    "--latency-stage",
    "--latency-stat",
    "--step",
    "--coarse-step",
    "--num",
    "--alpha",
    "--template",
    "--plots",
)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return store_with(
        tmp_path_factory.mktemp("cli") / "budget.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5, 0.5], [100.0, 102.0], [60.0, 70.0]),
            run("okvqa", "high", 8, 16, [0.8, 0.6], [150.0, 160.0], [80.0, 95.0]),
            run("text-vqa", "low", 4, 12, [0.4], [120.0], [75.0], experiment="other"),
        ],
    )


def invoke(*args, env=None):
    return CliRunner().invoke(app, list(args), env=env)


def test_markdown_on_stdout_in_chinese_by_default(db):
    result = invoke("report", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Latency Budget范围分析\n\n## 分析结果（基于2个数据集）\n")
    assert "- **最高accuracy**: 0.7000 @ **155.00ms** (config: high tier, top_k=8, blocks=16)" in result.stdout


def test_out_file_and_options(db, tmp_path):
    out = tmp_path / "reports" / "budget.md"
    result = invoke(
        "report",
        "--db",
        str(db),
        "--lang",
        "en",
        "--out",
        str(out),
        "--experiment",
        "exp",
        "--dataset",
        "okvqa",
        "--dataset",
        "text-vqa",
        "--step",
        "25",
        "--coarse-step",
        "100",
        "--num",
        "5",
        "--alpha",
        "0.05-0.1",
        "--latency-stage",
        "T_total",
        "--latency-stat",
        "p50",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Latency Budget Range Analysis\n")
    assert "#### Text-VQA" in text and "no config of this dataset in scope" in text  # filtered out by --experiment
    # p50 latencies 101 and 155: ceil(101/25)*25 = 125, ceil(155/25)*25 = 175, no multiple of 100 between
    assert "**Recommended range**: **125ms - 175ms**" in text
    assert "np.random.choice([125, 175])" in text
    assert "np.linspace(125, 175, num=5)" in text
    assert "α in 0.05~0.1" in text
    assert "experiment = `exp`; dataset = `okvqa`, `text-vqa`" in text
    assert not list(out.parent.glob(".budget.md.*"))  # no temporary file left


def test_env_var_names_the_store(db):
    result = invoke("report", "--lang", "en", env={"BUDGETDB_DB": str(db)})
    assert result.exit_code == 0, result.output
    assert f"- **Store**: `{db}`" in result.stdout


def test_plot_links_are_relative_to_the_out_file(db, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "docs" / "budget.md"
    result = invoke("report", "--db", str(db), "--out", str(out), "--plots", str(tmp_path / "figures"))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "](../figures/frontier_okvqa.png)" in text
    assert (tmp_path / "figures" / "frontier_okvqa.svg").is_file()


def test_template_folder_overrides_a_partial(db, tmp_path):
    (tmp_path / "_lookup_table.md.j2").write_text("\n(no lookup table here)\n", encoding="utf-8")
    result = invoke("report", "--db", str(db), "--lang", "en", "--template", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "(no lookup table here)" in result.stdout and "## Budget lookup table" not in result.stdout
    assert f"- **Templates**: `{tmp_path}`, packaged" in result.stdout


def test_template_file_replaces_the_main_template(db, tmp_path):
    main = tmp_path / "short.md.j2"
    main.write_text("{{ frontier_count }} datasets, range {{ budget.lower|num }}-{{ budget.upper|num }} ms\n", encoding="utf-8")
    result = invoke("report", "--db", str(db), "--template", str(main))
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 datasets, range 110-160 ms\n"


def test_a_template_file_is_the_file_rendered_whatever_the_folders_before_it_hold(db, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "my.md.j2").write_text(f"{folder}'s\n", encoding="utf-8")
    result = invoke("report", "--db", str(db), "--template", str(tmp_path / "a"), "--template", str(tmp_path / "b" / "my.md.j2"))
    assert result.exit_code == 0 and result.stdout == "b's\n", result.output
    both = [str(tmp_path / folder / "my.md.j2") for folder in ("a", "b")]
    two = invoke("report", "--db", str(db), "--template", both[0], "--template", both[1])
    assert (
        two.exit_code == 1
        and two.stderr.strip() == f"Error: --template takes one main template file, got {both[0]} and {both[1]}"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--alpha", "0.3-0.1"], "Error: --alpha must be LO-HI"),
        (["--alpha", "abc"], "Error: --alpha takes LO-HI"),
        (["--step", "0"], "Error: --step must be a number of ms between 0.001 and 3,600,000, got 0.0"),
        (["--step", "nan"], "Error: --step must be a number of ms between 0.001 and 3,600,000, got nan"),
        (["--coarse-step", "1e-9"], "Error: --coarse-step must be a number of ms between 0.001 and 3,600,000"),
        (["--num", "100000000"], "Error: --num must be a whole number between 1 and 1,000, got 100000000"),
        (["--template", "/nonexistent/t.md.j2"], "Error: --template /nonexistent/t.md.j2: no such file or folder"),
    ],
)
def test_bad_options_are_one_line_errors(db, args, message):
    result = invoke("report", "--db", str(db), *args)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(message), result.stderr
    assert result.stdout == ""


def test_a_missing_store_says_what_to_do(tmp_path):
    result = invoke("report", "--db", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 1
    assert "budgetdb ingest" in result.stderr


def test_a_broken_user_template_is_a_one_line_error(db, tmp_path):
    (tmp_path / "_footer.md.j2").write_text("{{ footer.no_such_key }}", encoding="utf-8")
    result = invoke("report", "--db", str(db), "--template", str(tmp_path))
    assert result.exit_code == 1
    # the line names the partial that failed, and its line
    assert result.stderr.startswith("Error: template ") and "_footer.md.j2:1: " in result.stderr
    assert "no key 'no_such_key' here" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_documents_every_option():
    result = invoke("report", "--help")
    assert result.exit_code == 0
    for option in OPTIONS:
        assert option in result.stdout, option
    assert "Example: budgetdb report" in result.stdout


def test_report_and_query_run_never_import_pandas(db, tmp_path):
    """DuckDB would import pandas (0.2-0.3 s) to check each bound parameter against pandas.NaT."""
    assert not imports("pandas", "report", "--db", str(db), "-o", str(tmp_path / "r.md"))
    assert not imports("pandas", "query", "run", "budget_lookup", "--db", str(db), "-p", "budgets=150", "-p", "dataset=okvqa")


_AFTER_THE_GUARD = """
import sys
import duckdb
from budgetdb.cli.pandas_guard import pandas_unloaded

con = duckdb.connect()
with pandas_unloaded():
    try:
        import pandas
    except ImportError:
        pass
    else:
        raise AssertionError("pandas imported inside the guard")
    assert con.execute("SELECT ?::DOUBLE + 1", [1.5]).fetchone() == (2.5,)
assert "pandas" not in sys.modules
import pandas
assert con.execute("SELECT ? IS NULL", [pandas.NaT]).fetchone() == (True,)
assert con.execute("SELECT 41 + 1 AS x").df()["x"].tolist() == [42]
print("ok")
"""


def test_pandas_works_again_after_the_guard():
    done = subprocess.run([sys.executable, "-c", _AFTER_THE_GUARD], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
