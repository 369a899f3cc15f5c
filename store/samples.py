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

from . import writer
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

_FOUND = """CASE left({t}, 1) WHEN '"' THEN 'a string' WHEN '{{' THEN 'an object' WHEN '[' THEN 'a list'
    WHEN 't' THEN 'a boolean' WHEN 'f' THEN 'a boolean' ELSE 'the number ' || {t} END"""


def _accepts(kind: str, value: str) -> str:
    text = f"CAST({value} AS VARCHAR)"
    if kind == "VARCHAR":
        return f"starts_with({text}, '\"')"
    return f"regexp_full_match({text}, '{_PATTERNS[kind]}')"


def _cast(kind: str, value: str) -> str:
    if kind == "JSON":
        return value
    return f"json_extract_string({value}, '$')" if kind == "VARCHAR" else f"CAST({value} AS {kind})"


def _type_error(name: str, kind: str, value: str) -> str:
    problem = (
        f"o.filename || ': per_sample_results[' || (o.i - 1) || '].{name}: expected {_EXPECTED[kind]}, found ' || "
        + _FOUND.format(t=f"CAST({value} AS VARCHAR)")
    )
    return f"WHEN {value} IS NOT NULL AND NOT {_accepts(kind, value)} THEN error({problem})"


# DuckDB also reads nan, inf, -INF... inside free-form values (metadata, tier_range, unknown keys)
# and keeps them as written. Outside strings, such a number starts a value's minified JSON or
# follows ':', ',', '[' or '-' with "na" or "in" in any case: a usual sample without that hint
# holds none; any other sample is searched exactly, outside its strings.
_LENIENT_HINT = "(?:^|[:,\\[-])(?:[nN][aA]|[iI][nN])"
_LENIENT_NUMBERS = """list_filter(list_transform(map_entries(o.m), e -> e.key || ': the number ' || list_filter(
                 regexp_extract_all(regexp_replace(CAST(e.value AS VARCHAR), '"(?:[^"\\\\]|\\\\.)*"', '', 'g'), '-?[A-Za-z]+'),
                 w -> w NOT IN ('true', 'false', 'null', 'NaN', 'Infinity', '-Infinity', 'e', 'E'))[1]), x -> x IS NOT NULL)"""
_LENIENT_ERROR = (
    f"WHEN {_LENIENT_NUMBERS} <> [] THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '].' || "
    f"{_LENIENT_NUMBERS}[1] || ' is not JSON (only NaN, Infinity and -Infinity are)')"
)

_BY_KEY = [(name, kind, f"o.m['{name}']") for name, kind in SAMPLE_FIELDS.items()]
# the usual sample: exactly the known keys in the usual order, every value non-null and of its
# column's type; one regular expression checks all its numbers and lists at once
_BY_POSITION = [(f"o.vals[{i}]", kind) for i, kind in enumerate(SAMPLE_FIELDS.values(), start=1)]
_USUAL = " AND ".join(
    [
        "o.usual",
        "regexp_full_match(concat_ws(';', "
        + ", ".join(f"CAST({value} AS VARCHAR)" for value, kind in _BY_POSITION if kind in _PATTERNS)
        + "), '"
        + ";".join(f"(?:{_PATTERNS[kind]})" for _, kind in _BY_POSITION if kind in _PATTERNS)
        + "')",
    ]
    + [_accepts(kind, value) for value, kind in _BY_POSITION if kind == "VARCHAR"]
    + [
        "NOT regexp_matches(concat_ws(',', "
        + ", ".join(f"CAST({value} AS VARCHAR)" for value, kind in _BY_POSITION if kind == "JSON")
        + f"), '{_LENIENT_HINT}')"
    ]
)
_TYPE_ERRORS = "\n             ".join(_type_error(name, kind, value) for name, kind, value in _BY_KEY if kind != "JSON")
_VALUES = ",\n    ".join(_cast(kind, f"o.v[{i}]") for i, (_, kind) in enumerate(SAMPLE_FIELDS.items(), start=1))

# v, the sample's values in SAMPLE_FIELDS order (NULL where a key is absent), is computed and
# checked before any value is cast: a cast of a value of the wrong type would fail with DuckDB's
# message or, worse, succeed. The usual sample takes its values by position, the rest by key.
_METADATA = f"o.v[{list(SAMPLE_FIELDS).index('metadata') + 1}]"
_COLUMNS = ", ".join(["file_id", "config_run_id", "ordinal", *SAMPLE_FIELDS, "absent", "extra", "example_id", '"repeat"'])
_INSERT = f"""
INSERT INTO sample_records ({_COLUMNS})
SELECT
    b.file_id,
    b.config_run_id,
    CAST(o.i - 1 AS INTEGER),
    {_VALUES},
    CASE WHEN NOT o.usual AND NOT list_has_all(map_keys(o.m), $known)
         THEN list_filter($known, k -> NOT list_contains(map_keys(o.m), k)) END,
    CASE WHEN NOT o.usual AND NOT list_has_all($known, map_keys(o.m))
         THEN to_json(map_from_entries(list_filter(map_entries(o.m), e -> NOT list_contains($known, e.key)))) END,
    TRY_CAST(json_extract_string({_METADATA}, '$.example_id') AS BIGINT),
    false
FROM (
    SELECT
        o.*,
        CASE WHEN {_USUAL} THEN o.vals
             WHEN o.m IS NULL THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] is null, expected an object')
             WHEN list_unique(map_keys(o.m)) <> cardinality(o.m)
             THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] has the key '
                        || to_json(list_filter(map_keys(o.m), (k, j) -> list_position(map_keys(o.m), k) < j)[1]) || ' twice')
             {_TYPE_ERRORS}
             {_LENIENT_ERROR}
             ELSE list_transform($known, k -> o.m[k]) END AS v
    FROM (
        SELECT filename, m, i, coalesce(map_keys(m) = $known, false) AS usual, map_values(m) AS vals
        FROM (
            SELECT filename, unnest(per_sample_results) AS m, unnest(range(1, len(per_sample_results) + 1)) AS i
            FROM read_json($paths, columns = {{'per_sample_results': 'MAP(VARCHAR, JSON)[]'}}, filename = true,
                           format = 'unstructured', maximum_object_size = $max_size)
        )
    ) o
) o
JOIN ingest_batch b ON b.path = o.filename
"""

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


def prepare(con) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_batch (path VARCHAR, file_id BIGINT, config_run_id BIGINT)")


def load(con, loads: list[SampleLoad], max_size: int) -> dict[int, Loaded]:
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
    con.execute(_INSERT, {"paths": [literal_path(g.path) for g in loads], "known": KNOWN, "max_size": max_size})
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


def mark_repeats(con, config_run_ids: list[int]) -> None:
    """Set `repeat` on the samples of these config runs (after their files were written)."""
    if config_run_ids:
        con.execute(_UNMARK, {"runs": config_run_ids})
        con.execute(_REPEATS, {"runs": config_run_ids})
