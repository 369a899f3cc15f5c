"""Load `per_sample_results` into sample_records in one pass per batch of files.

Each sample is read as a MAP of key -> raw JSON text, so one parse gives every key (typed
columns, `absent` known keys, `extra` unknown ones) and each value's JSON type. A value is
stored only if its JSON type is the column's: DuckDB would otherwise turn "12.5" into 12.5 or
round 8.5 to 9 without a word. A wrong type stops the load with an error naming the file,
the sample and the field.

Nearly every sample has the known keys in the harness's order: its values are taken by position
and one regular expression checks them all. Any other sample takes the general path, by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from . import writer
from .fields import IMPLAUSIBLE_MS, SAMPLE_FIELDS, STAGE_LATENCIES, literal_path

if TYPE_CHECKING:
    import duckdb

KNOWN = list(SAMPLE_FIELDS)

_EXPECTED = {
    "BIGINT": "an integer",
    "DOUBLE": "a number",
    "BOOLEAN": "true or false",
    "VARCHAR": "a string",
    "BIGINT[]": "a list of integers",
    "DOUBLE[][]": "a list of lists of numbers",
}

# A value's JSON text (yyjson writes it minified: no spaces in lists) that its column accepts.
# Strings are told by their first character; the other patterns never match a ';'.
_PATTERNS = {
    "BIGINT": r"-?[0-9]+",
    # DuckDB also reads nan, inf, -INF... as numbers; JSON as Python writes it has NaN, Infinity, -Infinity only
    "DOUBLE": r"-?[0-9][-+.0-9eE]*|NaN|-?Infinity",
    "BOOLEAN": r"true|false",
    "BIGINT[]": r"\[(-?[0-9]+(,-?[0-9]+)*)?\]",
    "DOUBLE[][]": r"\[([-0-9.eE+,\[\]]|NaN|Infinity)*",
}

_STATEMENT = resources.files("budgetdb.store").joinpath("sql", "load_samples.sql").read_text("utf-8")
# the typed scalar and list columns, in SAMPLE_FIELDS order: what the load checks by key
_CHECKED = [name for name, kind in SAMPLE_FIELDS.items() if kind in _PATTERNS or kind == "VARCHAR"]
_LOAD_LISTS = {
    "known": KNOWN,
    "checked": _CHECKED,
    # a string's JSON text starts with a quote (the usual path's starts_with)
    "patterns": [_PATTERNS.get(SAMPLE_FIELDS[name], '(?s)".*') for name in _CHECKED],
    "expected": [_EXPECTED[SAMPLE_FIELDS[name]] for name in _CHECKED],
}


def usual_pattern() -> str:
    """The one regular expression over a usual sample's numbers and lists that load_samples.sql
    writes out (tests/test_sample_load_sql.py checks the two agree)."""
    return ";".join(f"(?:{_PATTERNS[kind]})" for kind in SAMPLE_FIELDS.values() if kind in _PATTERNS)


_NAN = " + ".join(f"coalesce(count_if(isnan({c})), 0)" for c in STAGE_LATENCIES)
# a 0.0 decode of a one-token answer is a measurement (no decode step ran), not a missing hook
_ONE_TOKEN = ("T_LLM_decode", "T_decode_per_token")
_ZERO = " + ".join(
    f"coalesce(count_if({c} = 0{' AND output_tokens IS DISTINCT FROM 1' if c in _ONE_TOKEN else ''}), 0)" for c in STAGE_LATENCIES
)
# negative or over one hour (infinities included): no measurement; the samples view shows NULL
_IMPLAUSIBLE = " + ".join(
    f"coalesce(count_if(NOT isnan({c}) AND ({c} < 0 OR {c} > {IMPLAUSIBLE_MS})), 0)" for c in STAGE_LATENCIES
)
_FACTS = f"""
SELECT
    file_id,
    count(*),
    list(DISTINCT coalesce(absent, [])),
    list_sort(list_distinct(flatten(list(coalesce(json_keys(extra), []))))),
    {_NAN},
    {_ZERO},
    {_IMPLAUSIBLE},
    coalesce(count_if(accuracy < 0 OR accuracy > 1), 0)
FROM sample_records
WHERE file_id IN (SELECT file_id FROM ingest_batch)  -- a hash probe per row, not a list search
GROUP BY file_id
"""


@dataclass(frozen=True)
class SampleLoad:
    """A file whose per_sample_results go into sample_records."""

    file_id: int
    path: str
    config_run_id: int


@dataclass(frozen=True)
class Loaded:
    """What the samples of one file turned out to hold."""

    n_samples: int = 0
    sample_keys: tuple[str, ...] = ()  # every key some sample has
    nan_latencies: int = 0
    zero_latencies: int = 0
    implausible_latencies: int = 0
    accuracies_out_of_range: int = 0


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_batch (path VARCHAR, file_id BIGINT, config_run_id BIGINT)")


def load(con: duckdb.DuckDBPyConnection, loads: list[SampleLoad], max_size: int) -> dict[int, Loaded]:
    """Insert the samples of `loads`; return what each file held (files without samples omitted)."""
    if not loads:
        return {}
    con.execute("DELETE FROM ingest_batch")
    writer.insert_columns(
        con,
        "ingest_batch",
        {
            "path": [g.path for g in loads],
            "file_id": [g.file_id for g in loads],
            "config_run_id": [g.config_run_id for g in loads],
        },
    )
    con.execute(_STATEMENT, {"paths": [literal_path(g.path) for g in loads], "max_size": max_size, **_LOAD_LISTS})
    facts = {}
    for file_id, n, absent_sets, extra_keys, nan_count, zero_count, implausible, odd in con.execute(_FACTS).fetchall():
        missing_everywhere = set.intersection(*(set(a) for a in absent_sets))
        present = [k for k in KNOWN if k not in missing_everywhere]
        facts[file_id] = Loaded(n, tuple(sorted(present + extra_keys)), nan_count, zero_count, implausible, odd)
    return facts


# A padding repeat is every occurrence of an example in a config run but the first, in the
# order the multi-GPU sampler dealt them: by position in a GPU's share (sample_id; the padding is
# always the last of a share, the example it repeats the first of another), then rank, file and
# position in the file. Only the config runs' repeated examples are ranked.
_REPEATS = """
UPDATE sample_records AS s SET "repeat" = r.k > 1
FROM (
    SELECT s.file_id, s.ordinal,
           row_number() OVER (PARTITION BY s.config_run_id, s.example_id
                              ORDER BY s.sample_id NULLS LAST, f.rank NULLS FIRST, f.path, s.ordinal) AS k
    FROM sample_records s
    JOIN file_records f ON f.file_id = s.file_id AND f.status = 'ingested'
    WHERE s.config_run_id IN (SELECT unnest($runs))  -- a hash semi-join: list_contains is 7x slower here
      AND (s.config_run_id, s.example_id) IN (
          SELECT (config_run_id, example_id) FROM sample_records
          WHERE config_run_id IN (SELECT unnest($runs)) AND example_id IS NOT NULL
          GROUP BY config_run_id, example_id HAVING count(*) > 1)
) r
WHERE s.file_id = r.file_id AND s.ordinal = r.ordinal AND s."repeat" IS DISTINCT FROM (r.k > 1)
"""
_UNMARK = """UPDATE sample_records SET "repeat" = false WHERE config_run_id IN (SELECT unnest($runs)) AND "repeat" """


def mark_repeats(con: duckdb.DuckDBPyConnection, config_run_ids: list[int]) -> None:
    """Set `repeat` on the samples of these config runs (after their files were written)."""
    if config_run_ids:
        con.execute(_UNMARK, {"runs": config_run_ids})
        con.execute(_REPEATS, {"runs": config_run_ids})
