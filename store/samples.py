"""Load `per_sample_results` into sample_records in one pass per batch of files.

Each sample is read as a MAP of key -> raw JSON text, so one parse gives every key (typed
columns, `absent` known keys, `extra` unknown ones) and each value's JSON type. A value is
stored only if its JSON type is the column's: DuckDB would otherwise turn "12.5" into 12.5 or
round 8.5 to 9 without a word. A wrong type stops the load with an error naming the file,
the sample and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import IMPLAUSIBLE_MS, SAMPLE_FIELDS, STAGE_LATENCIES, literal_path

KNOWN = list(SAMPLE_FIELDS)

_EXPECTED = {
    "BIGINT": "an integer",
    "DOUBLE": "a number",
    "BOOLEAN": "true or false",
    "VARCHAR": "a string",
    "BIGINT[]": "a list of integers",
    "DOUBLE[][]": "a list of lists of numbers",
}

# {t}: the value's JSON text. yyjson writes it minified, so list texts have no spaces.
_ACCEPTS = {
    "BIGINT": "regexp_full_match({t}, '-?[0-9]+')",
    # DuckDB also reads nan, inf, -INF... as numbers; JSON as Python writes it has NaN, Infinity, -Infinity only
    "DOUBLE": "(left({t}, 1) IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9') OR {t} IN ('NaN', 'Infinity', '-Infinity')"
              " OR left({t}, 1) = '-' AND substr({t}, 2, 1) IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))",
    "BOOLEAN": "{t} IN ('true', 'false')",
    "VARCHAR": "left({t}, 1) = '\"'",
    "BIGINT[]": "regexp_full_match({t}, '\\[(-?[0-9]+(,-?[0-9]+)*)?\\]')",
    "DOUBLE[][]": "left({t}, 1) = '[' AND regexp_full_match({t}, '([-0-9.eE+,\\[\\]]|NaN|Infinity)*')",
}

_FOUND = """CASE left({t}, 1) WHEN '"' THEN 'a string' WHEN '{{' THEN 'an object' WHEN '[' THEN 'a list'
    WHEN 't' THEN 'a boolean' WHEN 'f' THEN 'a boolean' ELSE 'the number ' || {t} END"""


def _column(name: str, kind: str) -> str:
    raw = f"o.m['{name}']"
    if kind == "JSON":
        return raw
    text = f"CAST({raw} AS VARCHAR)"
    value = f"json_extract_string({raw}, '$')" if kind == "VARCHAR" else f"CAST({raw} AS {kind})"
    problem = (
        f"o.filename || ': per_sample_results[' || (o.i - 1) || '].{name}: expected {_EXPECTED[kind]}, found ' || "
        + _FOUND.format(t=text)
    )
    return f"CASE WHEN {raw} IS NULL OR {_ACCEPTS[kind].format(t=text)} THEN {value} ELSE error({problem}) END"


_COLUMNS = ",\n    ".join(_column(name, kind) for name, kind in SAMPLE_FIELDS.items())

_INSERT = f"""
INSERT INTO sample_records
SELECT
    b.file_id,
    b.config_run_id,
    CASE WHEN o.m IS NULL THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] is null, expected an object')
         WHEN list_unique(map_keys(o.m)) <> cardinality(o.m)
         THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] has the key '
                    || to_json(list_filter(map_keys(o.m), (k, j) -> list_position(map_keys(o.m), k) < j)[1]) || ' twice')
         ELSE CAST(o.i - 1 AS INTEGER) END,
    {_COLUMNS},
    CASE WHEN NOT list_has_all(map_keys(o.m), $known)
         THEN list_filter($known, k -> NOT list_contains(map_keys(o.m), k)) END,
    CASE WHEN NOT list_has_all($known, map_keys(o.m))
         THEN to_json(map_from_entries(list_filter(map_entries(o.m), e -> NOT list_contains($known, e.key)))) END
FROM (
    SELECT filename, unnest(per_sample_results) AS m, unnest(range(1, len(per_sample_results) + 1)) AS i
    FROM read_json($paths, columns = {{'per_sample_results': 'MAP(VARCHAR, JSON)[]'}}, filename = true,
                   format = 'unstructured', maximum_object_size = $max_size)
) o
JOIN ingest_batch b ON b.path = o.filename
"""

_NAN = " + ".join(f"coalesce(count_if(isnan({c})), 0)" for c in STAGE_LATENCIES)
_ZERO = " + ".join(f"coalesce(count_if({c} = 0), 0)" for c in STAGE_LATENCIES)
# negative or over one hour (infinities included): no measurement; the samples view shows NULL
_IMPLAUSIBLE = " + ".join(
    f"coalesce(count_if(NOT isnan({c}) AND ({c} < 0 OR {c} > {IMPLAUSIBLE_MS})), 0)" for c in STAGE_LATENCIES)
_FACTS = f"""
SELECT
    file_id,
    count(*),
    list(DISTINCT coalesce(absent, [])),
    list_sort(list_distinct(flatten(list(coalesce(json_keys(extra), []))))),
    {_NAN},
    {_ZERO},
    {_IMPLAUSIBLE}
FROM sample_records
WHERE list_contains($file_ids, file_id)
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


def prepare(con) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_batch (path VARCHAR, file_id BIGINT, config_run_id BIGINT)")


def load(con, loads: list[SampleLoad], max_size: int) -> dict[int, Loaded]:
    """Insert the samples of `loads`; return what each file held (files without samples omitted)."""
    if not loads:
        return {}
    con.execute("DELETE FROM ingest_batch")
    con.executemany("INSERT INTO ingest_batch VALUES (?, ?, ?)", [[g.path, g.file_id, g.config_run_id] for g in loads])
    con.execute(_INSERT, {"paths": [literal_path(g.path) for g in loads], "known": KNOWN, "max_size": max_size})
    facts = {}
    for file_id, n, absent_sets, extra_keys, nan_count, zero_count, implausible in con.execute(
        _FACTS, {"file_ids": [g.file_id for g in loads]}
    ).fetchall():
        missing_everywhere = set.intersection(*(set(a) for a in absent_sets))
        present = [k for k in KNOWN if k not in missing_everywhere]
        facts[file_id] = Loaded(n, tuple(sorted(present + extra_keys)), nan_count, zero_count, implausible)
    return facts
