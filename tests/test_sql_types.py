"""Every DuckDB type prints in every format of `budgetdb sql` (the list comes from DuckDB's own
duckdb_types(), so a type a DuckDB upgrade adds fails here until it has a value below).

Expectations come from DuckDB itself, not from budgetdb: csv cells are what DuckDB's own CSV
writer (COPY ... TO) writes for the value; json values are what DuckDB's to_json() makes of it
(with the documented differences: NaN is null, a FLOAT is its float32 value, a UNION is its
member's value, a VARIANT is its JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
import struct

import duckdb
import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app

from builders import new_store

VALUES = {
    "BOOLEAN": "true",
    "TINYINT": "-7::TINYINT",
    "SMALLINT": "-300::SMALLINT",
    "INTEGER": "123456",
    "BIGINT": "(-9223372036854775807::BIGINT - 1)",
    "HUGEINT": "170141183460469231731687303715884105727::HUGEINT",
    "UHUGEINT": "340282366920938463463374607431768211455::UHUGEINT",
    "UTINYINT": "255::UTINYINT",
    "USMALLINT": "65535::USMALLINT",
    "UINTEGER": "4294967295::UINTEGER",
    "UBIGINT": "18446744073709551615::UBIGINT",
    "FLOAT": "0.1::FLOAT",
    "DOUBLE": "0.1::DOUBLE",
    "DECIMAL": "-12345.678::DECIMAL(18,3)",
    "VARCHAR": "'a,b \"q\" ' || chr(27) || '[31m é 😀'",
    "JSON": """'{"a": [1, 2.5, null, "x"], "big": 0.1000000000000000055511151231257827}'::JSON""",
    "BLOB": r"'\xAA\x00a'::BLOB",
    "BIT": "'010110'::BIT",
    "DATE": "'infinity'::DATE",
    "TIME": "'01:02:03.5'::TIME",
    "TIME_NS": "'01:02:03.123456789'::TIME_NS",
    "TIME WITH TIME ZONE": "'01:02:03+05:30'::TIMETZ",
    "TIMESTAMP": "'2024-01-02 03:04:05.123456'::TIMESTAMP",
    "TIMESTAMP_S": "'2024-01-02 03:04:05'::TIMESTAMP_S",
    "TIMESTAMP_MS": "'2024-01-02 03:04:05.123'::TIMESTAMP_MS",
    "TIMESTAMP_NS": "'2024-01-02 03:04:05.123456789'::TIMESTAMP_NS",
    "TIMESTAMP WITH TIME ZONE": "'2024-01-02 03:04:05.123456+01'::TIMESTAMPTZ",
    "INTERVAL": "INTERVAL '1 month 2 days 3.5 seconds'",
    "UUID": "'7a5e8d3c-1b2f-4c6d-9e0a-123456789abc'::UUID",
    "ENUM": "'b'::ENUM('a', 'b')",
    "LIST": "[1.5, NULL, 'nan'::DOUBLE]",
    "ARRAY": "['2024-01-02'::DATE, NULL]::DATE[2]",
    "STRUCT": "{'t': '2024-01-02 03:04:05+00'::TIMESTAMPTZ, 'f': 0.1::FLOAT, 'j': '[1]'::JSON}",
    "MAP": "MAP {1: 'x', 2: NULL}",
    "UNION": "union_value(t := '2024-01-02 03:04:05+00'::TIMESTAMPTZ)::UNION(t TIMESTAMPTZ, n INTEGER)",
    "BIGNUM": "'123456789012345678901234567890123456789012345'::BIGNUM",
    "GEOMETRY": "'POINT(1 2)'::GEOMETRY",
    "VARIANT": "{'a': 1, 'b': [true]}::VARIANT",
    "NULL": "NULL",
}
NOT_DATA = {"TYPE"}  # DuckDB's type of types: no column holds one


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("types") / "s.duckdb"
    new_store(path).close()
    return path


def _sql(store, value: str, fmt: str):
    result = CliRunner().invoke(app, ["sql", f"SELECT {value} AS v", "--db", str(store), "-F", fmt])
    assert result.exit_code == 0, (value, fmt, result.output)
    return result


def test_every_type_duckdb_has_is_covered():
    names = {
        row[0] for row in duckdb.sql("SELECT DISTINCT logical_type FROM duckdb_types() WHERE database_name = 'system'").fetchall()
    }
    names |= {"JSON"}  # a VARCHAR alias with its own printing
    assert names - NOT_DATA - set(VALUES) == set()


def _duckdb_csv_cell(value: str, tmp_path) -> str:
    target = tmp_path / "duckdb.csv"
    duckdb.execute(f"COPY (SELECT {value} AS v) TO '{target}' (HEADER false)")
    rows = list(csv.reader(io.StringIO(target.read_text("utf-8"))))
    return rows[0][0] if rows and rows[0] else ""


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return value


def _duckdb_json(name: str, value: str):
    if name == "UNION":
        value = f"union_extract({value}, 't')"
    elif name == "VARIANT":
        value = f"({value})::JSON"
    elif name == "BLOB":
        return duckdb.sql(f"SELECT CAST({value} AS VARCHAR)").fetchone()[0]
    text = duckdb.sql(f"SELECT to_json({value})").fetchone()[0]
    return None if text is None else _nan_to_none(json.loads(text))


def _float32(x) -> bytes:
    return struct.pack("<f", x)


NESTED = {"LIST", "ARRAY", "STRUCT", "MAP", "VARIANT"}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_a_value_of_each_type_prints_exactly_in_csv_and_json(store, tmp_path, name):
    value = VALUES[name]
    as_csv = _sql(store, value, "csv")
    header, *rows = list(csv.reader(io.StringIO(as_csv.stdout_bytes.decode("utf-8"))))
    assert header == ["v"] and len(rows) == 1
    cell = rows[0][0]
    if name in NESTED:  # csv holds nested values as JSON text
        _same_json(name, _nan_to_none(json.loads(cell)), _duckdb_json(name, value))
    else:
        assert cell == _duckdb_csv_cell(value, tmp_path), name
    as_json = _sql(store, value, "json").stdout
    _same_json(name, json.loads(as_json)[0]["v"], _duckdb_json(name, value))
    if name == "JSON":
        assert '"big": 0.1000000000000000055511151231257827' in as_json  # every digit kept


def _same_json(name, got, expected):
    """to_json writes a FLOAT as its double value (0.10000000149011612); budgetdb writes the
    shortest text that reads back as the same float32 (0.1)."""
    if name == "FLOAT":
        assert _float32(got) == _float32(expected) and repr(got) == "0.1"
    elif name == "STRUCT":
        got, expected = dict(got), dict(expected)
        assert _float32(got.pop("f")) == _float32(expected.pop("f"))
        assert got == expected
    else:
        assert got == expected, name


@pytest.mark.parametrize("name", sorted(VALUES))
@pytest.mark.parametrize("fmt", ["table", "line", "markdown"])
def test_a_value_of_each_type_prints_for_people(store, name, fmt):
    text = _sql(store, VALUES[name], fmt).stdout
    assert "\x1b" not in text  # control characters are shown, never sent to the terminal
    if name == "VARCHAR":
        assert "\\x1b" in text


def test_now_needs_no_pytz(store):
    for fmt in ("table", "csv", "json"):
        result = _sql(store, "now()", fmt)
        assert "pytz" not in result.output


def test_machine_formats_write_escape_sequences_byte_for_byte(store):
    """click.echo strips ANSI sequences when output is piped; csv must keep the bytes."""
    result = _sql(store, "chr(27) || '[31mred' || chr(27) || '[0m'", "csv")
    assert result.stdout_bytes == b"v\n\x1b[31mred\x1b[0m\n"
