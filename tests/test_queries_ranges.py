"""Parameter ranges: declared in a new version's header, known by name for the versions
published before (their files are never edited), checked before anything runs; NaN and
infinities are never a DOUBLE's value."""

from __future__ import annotations

import math

import pytest

from budgetdb import queries
from budgetdb.queries import ranges, registry

HEADER = """-- name: hist
-- version: 1
-- description: test
-- param: bins INTEGER {bins} = 5 -- number of bins
-- param: step DOUBLE {step} = 1 -- a step
-- param: cuts DOUBLE[] {cuts} = NULL -- cut points
-- returns: x
SELECT $bins AS x, $step AS s, $cuts AS c
"""


def parse(bins="", step="", cuts=""):
    return registry.parse("hist.v1.sql", HEADER.format(bins=bins, step=step, cuts=cuts))


def test_a_header_declares_ranges_in_sql_words():
    spec = parse(bins="BETWEEN 1 AND 10", step="> 0 AND <= 2.5", cuts=">= -1")
    by_name = {p.name: p for p in spec.params}
    assert by_name["bins"].range == ranges.Range(1, 10)
    assert by_name["step"].range == ranges.Range(0, 2.5, low_open=True)
    assert by_name["cuts"].range == ranges.Range(-1, None)
    assert (by_name["bins"].default, by_name["step"].default) == (5, 1.0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("bins", 0, "bins must be between 1 and 10, got 0"),
        ("bins", 11, "bins must be between 1 and 10, got 11"),
        ("step", 0, "step must be > 0 and <= 2.5, got 0"),
        ("step", "2.6", "step must be > 0 and <= 2.5, got 2.6"),
        ("step", "nan", "step must be a finite number, got nan"),
        ("cuts", [0, -2], "cuts must be >= -1, got -2"),
        ("cuts", "0,inf", "cuts must be a finite number, got inf"),
    ],
)
def test_values_outside_a_declared_range_are_refused(name, value, message):
    spec = parse(bins="BETWEEN 1 AND 10", step="> 0 AND <= 2.5", cuts=">= -1")
    with pytest.raises(queries.QueryParamError) as raised:
        queries.bind(spec, {name: value})
    assert str(raised.value) == f"hist@v1 parameter {message}"


def test_values_inside_are_bound():
    spec = parse(bins="BETWEEN 1 AND 10", step="> 0 AND <= 2.5", cuts=">= -1")
    assert queries.bind(spec, {"bins": "10", "step": 2.5, "cuts": "-1,3"}) == {"bins": 10, "step": 2.5, "cuts": [-1.0, 3.0]}


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        ("bins", "BETWEEN 10 AND 1", "holds no value"),
        ("step", "> 0 AND > 1", "two lower bounds"),
        ("step", "> 1e999", "bounds must be finite"),
    ],
)
def test_a_bad_range_names_the_file_and_line(where, text, message):
    with pytest.raises(registry.QueryDefinitionError, match=rf"^hist\.v1\.sql:\d: .*{message}"):
        parse(**{where: text})


def test_a_range_on_a_text_parameter_is_refused():
    text = HEADER.format(bins="", step="", cuts="").replace("-- param: bins INTEGER  = 5", "-- param: bins VARCHAR > 1 = '5'")
    with pytest.raises(registry.QueryDefinitionError, match=r"^hist\.v1\.sql:4: a range needs a number type"):
        registry.parse("hist.v1.sql", text)


def test_a_header_range_wins_over_the_known_one_and_the_known_one_covers_old_files():
    spec = parse(bins="BETWEEN 1 AND 10")
    bins = next(p for p in spec.params if p.name == "bins")
    assert ranges.of(bins) == ranges.Range(1, 10)  # not KNOWN["bins"]
    old = next(p for p in queries.get("prefill_histogram@v1").params if p.name == "bins")
    assert old.range is None and ranges.of(old) == ranges.KNOWN["bins"]


def test_every_number_parameter_of_a_packaged_query_has_a_range():
    """A scalar number drives the size of a result (bins, num) or a loop (step): each is bounded."""
    for spec in queries.packaged().every():
        for param in spec.params:
            if param.type in ("INTEGER", "DOUBLE"):
                assert ranges.of(param) is not None, (spec.ref, param.name)
                assert param.default is None or ranges.of(param).holds(param.default), (spec.ref, param.name)


def test_nan_and_infinity_are_refused_for_every_double_parameter():
    spec = queries.get("budget_range")
    for name in ("step", "coarse_step"):
        for bad in (math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity"):
            with pytest.raises(queries.QueryParamError, match="must be a finite number"):
                queries.bind(spec, {name: bad})
