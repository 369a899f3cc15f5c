"""store/sql/load_samples.sql, the statement that loads every sample, is plain SQL a reader can
read and run; it is written out per column, so these checks keep it in step with
store/fields.py's SAMPLE_FIELDS (the one list of per-sample fields and their types)."""

from __future__ import annotations

import re
from importlib import resources

from budgetdb.store import samples
from budgetdb.store.fields import SAMPLE_FIELDS

SQL = resources.files("budgetdb.store").joinpath("sql", "load_samples.sql").read_text("utf-8")


def test_the_insert_names_every_field_in_order():
    columns = re.search(r"INSERT INTO sample_records \((.*?)\)\nSELECT", SQL, re.S).group(1)
    assert [c.strip() for c in columns.split(",")] == [
        "file_id", "config_run_id", "ordinal", *SAMPLE_FIELDS, "absent", "extra", "example_id", '"repeat"'
    ]  # fmt: skip


def test_each_value_is_cast_to_its_columns_type():
    casts = re.findall(r"^    (.*?),\s+-- (\w+)$", SQL, re.M)
    assert [name for _, name in casts] == list(SAMPLE_FIELDS)
    for position, (cast, name) in enumerate(casts, start=1):
        kind = SAMPLE_FIELDS[name]
        value = f"o.v[{position}]"
        expected = {"JSON": value, "VARCHAR": f"json_extract_string({value}, '$')"}.get(kind, f"CAST({value} AS {kind})")
        assert cast == expected, name


def test_the_usual_samples_check_covers_every_typed_field_by_position():
    usual = re.search(r"concat_ws\(';',(.*?)\),\s*'([^']*)'\)", SQL, re.S)
    positions = [int(p) for p in re.findall(r"o\.vals\[(\d+)\]", usual.group(1))]
    kinds = list(SAMPLE_FIELDS.values())
    typed = [i for i, kind in enumerate(kinds, start=1) if kind not in ("VARCHAR", "JSON")]
    assert positions == typed
    assert usual.group(2) == samples.usual_pattern()
    strings = [int(p) for p in re.findall(r"starts_with\(CAST\(o\.vals\[(\d+)\] AS VARCHAR\), '\"'\)", SQL)]
    assert strings == [i for i, kind in enumerate(kinds, start=1) if kind == "VARCHAR"]
    free = re.search(r"regexp_matches\(concat_ws\(',', (.*?)\), '\(\?:\^", SQL).group(1)
    assert [int(p) for p in re.findall(r"o\.vals\[(\d+)\]", free)] == [
        i for i, kind in enumerate(kinds, start=1) if kind == "JSON"
    ]


def test_every_parameter_the_statement_reads_is_bound():
    used = set(re.findall(r"\$([a-z_]+)", re.sub(r"--[^\n]*", "", SQL)))
    assert used == {"paths", "max_size", *samples._LOAD_LISTS}
