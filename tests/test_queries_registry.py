"""The query files, their headers, the checksum guard, and binding parameters."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from budgetdb import queries
from budgetdb.errors import BudgetdbError
from budgetdb.queries import registry
from budgetdb.queries.coerce import coerce_value
from budgetdb.store import locate, open_store

FILTERS = ("hardware", "experiment", "dataset")
# the latest versions partition by hardware: the ones that pooled it lead with a hardware column
ISSUE_QUERIES = {
    "prefill_stats": "hardware, n, n_missing, min, p5, p25, p50, p75, p95, max, mean, std",
    "latency_stats": None,
    "decode_stats": None,
    "config_points": "hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency",
    "pareto_frontier": "hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency",
    "frontier_summary": "hardware, dataset, n_points, hi_accuracy, hi_latency, hi_tier, hi_top_k, hi_blocks, "
    "lo_accuracy, lo_latency, lo_tier, lo_top_k, lo_blocks",
    "budget_range": "hardware, min_latency, min_dataset, max_latency, max_dataset, mean_min, mean_max, median_min, median_max, "
    "lower, upper, budgets, linspace, prefill_lower, prefill_upper, prefill_safe_upper",
    "budget_lookup": "budget, dataset",
}

GOOD = """-- name: demo_query
-- version: 2
-- description: Counts things.
--   Second line of the description.
-- param: dataset VARCHAR[] = NULL -- only these datasets
-- param: stat VARCHAR IN ('mean', 'p50') = 'mean' -- which statistic
-- param: step DOUBLE = 10
-- param: needed INTEGER -- no default: required
-- returns: n,
--   total
SELECT count(*) AS n, $step + $needed AS total  -- '$not_a_param' in a comment
FROM config_runs
WHERE ($dataset IS NULL OR list_contains($dataset, dataset)) AND $stat <> '$also_not_a_param'
"""


def test_a_header_parses_into_a_frozen_spec():
    spec = registry.parse("demo_query.v2.sql", GOOD)
    assert (spec.name, spec.version, spec.ref) == ("demo_query", 2, "demo_query@v2")
    assert spec.description == "Counts things. Second line of the description."
    assert spec.returns == ("n", "total")
    assert [(p.name, p.type, p.default, p.required) for p in spec.params] == [
        ("dataset", "VARCHAR[]", None, False),
        ("stat", "VARCHAR", "mean", False),
        ("step", "DOUBLE", 10.0, False),
        ("needed", "INTEGER", None, True),
    ]
    assert spec.params[1].choices == ("mean", "p50")
    assert spec.params[0].description == "only these datasets"
    assert spec.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    with pytest.raises(AttributeError):
        spec.name = "other"


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda t: t.replace("$step + ", "$stepp + "), 11, r"\$stepp is used but not declared"),
        (lambda t: t.replace("$step + ", ""), 7, r"'step' is declared but \$step is never used"),
        (lambda t: t.replace("-- version: 2", "-- version: 3"), 2, "does not match the file name"),
        (lambda t: t.replace("-- name: demo_query", "-- name: other"), 1, "does not match the file name"),
        (lambda t: t.replace("-- param: step DOUBLE = 10", "-- param: step FLOAT = 10"), 7, "unknown type FLOAT"),
        (lambda t: t.replace("-- param: step DOUBLE = 10", "-- param: step DOUBLE = ten"), 7, "expected a number"),
        (lambda t: t.replace("= 'mean' --", "= 'max' --"), 6, "not one of the choices"),
        (lambda t: t.replace("-- param: step DOUBLE = 10", "-- params: step DOUBLE = 10"), 7, "unknown header key 'params'"),
        (lambda t: t.replace("-- param: step DOUBLE = 10", "-- step is ten"), 7, "expected `-- key: value`"),
        (lambda t: t.replace("-- param: needed", "-- param: step DOUBLE\n-- param: needed"), 8, "declared twice"),
    ],
)
def test_a_bad_header_names_the_file_and_line(edit, line, message):
    with pytest.raises(queries.QueryDefinitionError, match=rf"^demo_query\.v2\.sql:{line}: .*{message}"):
        registry.parse("demo_query.v2.sql", edit(GOOD))


def test_a_missing_key_and_a_bad_file_name_are_refused():
    with pytest.raises(queries.QueryDefinitionError, match="no `-- returns:` line"):
        registry.parse("demo_query.v2.sql", GOOD.replace("-- returns: n,\n--   total\n", ""))
    with pytest.raises(queries.QueryDefinitionError, match="named <name>.v<N>.sql"):
        registry.parse("demo_query.sql", GOOD)
    header_only = GOOD[: GOOD.index("SELECT")].replace("-- param: dataset", "-- x: y\n-- param: dataset")
    with pytest.raises(queries.QueryDefinitionError, match="demo_query.v2.sql:5: unknown header key 'x'"):
        registry.parse("demo_query.v2.sql", header_only)
    no_params = "\n".join(line for line in GOOD.split("\n")[:10] if "param:" not in line) + "\n"
    with pytest.raises(queries.QueryDefinitionError, match="demo_query.v2.sql: no SQL after the header"):
        registry.parse("demo_query.v2.sql", no_params)


def test_every_packaged_query_parses_with_filters_and_documented_params():
    specs = queries.list_queries()
    assert [s.name for s in specs] == sorted(s.name for s in specs)
    assert set(ISSUE_QUERIES) <= {s.name for s in specs}
    for spec in specs:
        assert spec.description and spec.returns, spec.ref
        params = queries.plan(spec.ref).params  # its own and those flowing to the queries it uses
        names = [p.name for p in params]
        assert names[:3] == list(FILTERS), spec.ref
        for param in params:
            assert param.description, f"{spec.ref} {param.name}"
            assert not param.required, f"{spec.ref} {param.name}"
        expected = ISSUE_QUERIES.get(spec.name)
        if expected:
            prefix = [c.strip() for c in expected.split(",")]
            assert list(spec.returns[: len(prefix)]) == prefix, spec.ref


def test_published_query_files_are_never_edited():
    listed = registry.read_checksums()
    folder = resources.files("budgetdb.queries")
    on_disk = {e.name for e in folder.iterdir() if e.name.endswith(".sql") or registry.STEP_FILE.match(e.name)}
    unlisted = sorted(on_disk - set(listed))
    assert not unlisted, (
        f"{unlisted} are not in queries/checksums.txt: add their lines "
        "(python -m budgetdb.queries prints every line) once the version is final"
    )
    assert set(listed) <= on_disk, f"published versions were deleted: {sorted(set(listed) - on_disk)}"
    for name, digest in listed.items():
        actual = hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest()
        assert actual == digest, (
            f"{name} was edited after it was published; restore it and put the change in a new version "
            f"({re.sub(r'[.]v[0-9]+[.]', '.v<N+1>.', name)})"
        )


def test_get_resolves_latest_and_pinned_versions():
    latest = queries.get("pareto_frontier")
    assert queries.get(f"pareto_frontier@v{latest.version}") is latest
    assert queries.get("pareto_frontier@1").ref == "pareto_frontier@v1"


def test_unknown_query_and_version_list_the_valid_ones():
    with pytest.raises(queries.QueryNotFoundError) as unknown:
        queries.get("pareto")
    assert isinstance(unknown.value, BudgetdbError)
    for spec in queries.list_queries():
        assert spec.name in str(unknown.value)
    with pytest.raises(queries.QueryNotFoundError, match=r"pareto_frontier has no version 'v99'.*pareto_frontier@v1"):
        queries.get("pareto_frontier@v99")


def test_bind_fills_defaults_and_coerces_cli_strings():
    spec = queries.get("budget_lookup@v3")
    bound = queries.bind(spec, {"dataset": "okvqa,text-vqa", "step": "5", "budgets": "170, 200.5", "hardware": ""})
    assert bound == {
        "hardware": None,
        "experiment": None,
        "dataset": ["okvqa", "text-vqa"],
        "latency_stage": "T_total",
        "latency_stat": "mean",
        "step": 5.0,
        "coarse_step": 50.0,
        "num": 10,
        "budgets": [170.0, 200.5],
        "include_repeats": False,
    }
    python_values = queries.bind(spec, {"dataset": ["okvqa"], "step": 5, "budgets": (170, 200)})
    assert python_values["dataset"] == ["okvqa"] and python_values["step"] == 5.0
    assert python_values["budgets"] == [170.0, 200.0]
    assert queries.bind(spec, {"dataset": "okvqa"})["dataset"] == ["okvqa"]


def test_unknown_param_and_bad_values_say_what_is_valid():
    with pytest.raises(queries.QueryParamError, match="no parameter 'datasett'.*hardware, experiment, dataset"):
        queries.bind(queries.get("prefill_stats"), {"datasett": "okvqa"})
    with pytest.raises(queries.QueryParamError, match="must be one of mean, p50, p95, p99; got 'p90'"):
        queries.bind(queries.get("config_points"), {"latency_stat": "p90"})
    with pytest.raises(queries.QueryParamError, match=r"step \(DOUBLE\): expected a number, got 'ten'"):
        queries.bind(queries.get("budget_range"), {"step": "ten"})
    with pytest.raises(queries.QueryParamError, match="expected a whole number"):
        queries.bind(queries.get("budget_range"), {"num": 2.5})


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("", "DOUBLE", None),
        ("", "VARCHAR[]", None),
        ("2.50", "DOUBLE", 2.5),
        ("7", "INTEGER", 7),
        ("7.0", "INTEGER", 7),
        (7, "DOUBLE", 7.0),
        ("a,b", "VARCHAR[]", ["a", "b"]),
        ("[1, 2]", "DOUBLE[]", [1.0, 2.0]),
        (3, "INTEGER[]", [3]),
        ("true", "BOOLEAN", True),
        ("x y", "VARCHAR", "x y"),
    ],
)
def test_coerce_value(value, type_, expected):
    assert coerce_value(value, type_) == expected


@pytest.mark.parametrize(("value", "type_"), [(True, "DOUBLE"), ("1,,2", "DOUBLE[]"), (3, "VARCHAR"), ("x", "INTEGER")])
def test_coerce_value_refuses(value, type_):
    with pytest.raises(ValueError):
        coerce_value(value, type_)


def test_every_query_returns_its_declared_columns_even_on_an_empty_store(tmp_path):

    from builders import new_store

    new_store(tmp_path / "empty.duckdb").close()
    # the compare_* queries read a second store, the catalog `against`: here the same one
    con = open_store(tmp_path / "empty.duckdb", against=locate(tmp_path / "empty.duckdb"))
    for spec in queries.list_queries():
        result = queries.run(con, spec.ref)
        assert result.columns == list(spec.returns), spec.ref
        assert result.params == queries.bind(spec, {})
        assert result.records() == [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_a_check_inside_the_sql_becomes_a_query_error(tmp_path, monkeypatch):
    from budgetdb import connect
    from budgetdb.queries import ranges

    from builders import new_store

    monkeypatch.delitem(ranges.KNOWN, "step")  # its range would refuse step=0 before the SQL runs

    new_store(tmp_path / "s.duckdb").close()
    # budget_range@v2's header has no range (v3's has): step=0 reaches its SQL's own check
    with pytest.raises(queries.QueryRunError, match="budget_range@v2 failed: .*step must be > 0"):
        queries.run(connect(tmp_path / "s.duckdb"), "budget_range@v2", {"step": 0})
