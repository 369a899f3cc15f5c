-- The sample load: every element of per_sample_results of a batch of files, into sample_records.
--
-- Each sample is read as a MAP of key -> raw JSON text, so one parse gives every key and each
-- value's JSON type. A value is stored only if its JSON text is of its column's type (DuckDB would
-- otherwise turn "12.5" into 12.5 or round 8.5 to 9 without a word); a wrong type stops the load
-- with an error naming the file, the sample and the field. v holds the sample's values in the
-- known keys' order (NULL where a key is absent), checked before any value is cast.
--
-- The usual sample has exactly the known keys in the harness's order: its values are taken by
-- position and one regular expression checks all its numbers and lists at once. Any other
-- sample (old shapes, unknown keys, nulls, another order) takes the general path, by key.
--
-- Parameters (store/samples.py binds them; every list is in the order of store/fields.py's
-- SAMPLE_FIELDS, which the columns below follow, and tests/test_sample_load_sql.py checks that):
--   $paths     the files, as DuckDB file patterns that match only themselves
--   $max_size  bytes, more than the largest file
--   $known     the known keys, in the harness's order
--   $checked, $patterns, $expected
--              the known keys of typed scalar and list columns, the JSON text each accepts (a
--              regular expression), and how an error names that type
-- Reads the temporary table ingest_batch (path, file_id, config_run_id) of the batch's files.
-- By hand, in a DuckDB shell on a store: `PREPARE load AS <this statement>;` then
-- `EXECUTE load(paths := [...], max_size := ..., known := [...], ...)` with the lists
-- `python -c "from budgetdb.store import samples; print(samples._LOAD_LISTS)"` prints.
INSERT INTO sample_records (
    file_id, config_run_id, ordinal, sample_id, tier, tier_range, top_k, num_active_blocks,
    output_tokens, content_tokens, ends_with_eos, actual_image_size, actual_num_crops,
    actual_tiling, target_vision_tokens, actual_vision_tokens, actual_text_tokens,
    total_sequence_length, accuracy, pred, metadata, T_vision_total, T_LLM_prefill, T_LLM_decode,
    T_total, T_decode_per_token, T_decode_per_step, absent, extra, example_id, "repeat"
)
SELECT
    b.file_id,
    b.config_run_id,
    CAST(o.i - 1 AS INTEGER),
    CAST(o.v[1] AS BIGINT),                 -- sample_id
    json_extract_string(o.v[2], '$'),       -- tier
    o.v[3],                                 -- tier_range
    CAST(o.v[4] AS BIGINT),                 -- top_k
    CAST(o.v[5] AS BIGINT),                 -- num_active_blocks
    CAST(o.v[6] AS BIGINT),                 -- output_tokens
    CAST(o.v[7] AS BIGINT),                 -- content_tokens
    CAST(o.v[8] AS BOOLEAN),                -- ends_with_eos
    CAST(o.v[9] AS BIGINT[]),               -- actual_image_size
    CAST(o.v[10] AS BIGINT),                -- actual_num_crops
    CAST(o.v[11] AS BIGINT[]),              -- actual_tiling
    CAST(o.v[12] AS BIGINT),                -- target_vision_tokens
    CAST(o.v[13] AS BIGINT),                -- actual_vision_tokens
    CAST(o.v[14] AS BIGINT),                -- actual_text_tokens
    CAST(o.v[15] AS BIGINT),                -- total_sequence_length
    CAST(o.v[16] AS DOUBLE),                -- accuracy
    json_extract_string(o.v[17], '$'),      -- pred
    o.v[18],                                -- metadata
    CAST(o.v[19] AS DOUBLE),                -- T_vision_total
    CAST(o.v[20] AS DOUBLE),                -- T_LLM_prefill
    CAST(o.v[21] AS DOUBLE),                -- T_LLM_decode
    CAST(o.v[22] AS DOUBLE),                -- T_total
    CAST(o.v[23] AS DOUBLE),                -- T_decode_per_token
    CAST(o.v[24] AS DOUBLE[][]),            -- T_decode_per_step
    -- absent: the known keys this sample lacks; extra: its other keys, as JSON
    CASE WHEN NOT o.usual AND NOT list_has_all(map_keys(o.m), $known)
         THEN list_filter($known, k -> NOT list_contains(map_keys(o.m), k)) END,
    CASE WHEN NOT o.usual AND NOT list_has_all($known, map_keys(o.m))
         THEN to_json(map_from_entries(list_filter(map_entries(o.m), e -> NOT list_contains($known, e.key)))) END,
    TRY_CAST(json_extract_string(o.v[18], '$.example_id') AS BIGINT),
    false  -- padding repeats are marked once the config run's files are all written
FROM (
    SELECT
        o.*,
        CASE
            WHEN o.usual
                 AND regexp_full_match(concat_ws(';',
                CAST(o.vals[1] AS VARCHAR),
                CAST(o.vals[4] AS VARCHAR),
                CAST(o.vals[5] AS VARCHAR),
                CAST(o.vals[6] AS VARCHAR),
                CAST(o.vals[7] AS VARCHAR),
                CAST(o.vals[8] AS VARCHAR),
                CAST(o.vals[9] AS VARCHAR),
                CAST(o.vals[10] AS VARCHAR),
                CAST(o.vals[11] AS VARCHAR),
                CAST(o.vals[12] AS VARCHAR),
                CAST(o.vals[13] AS VARCHAR),
                CAST(o.vals[14] AS VARCHAR),
                CAST(o.vals[15] AS VARCHAR),
                CAST(o.vals[16] AS VARCHAR),
                CAST(o.vals[19] AS VARCHAR),
                CAST(o.vals[20] AS VARCHAR),
                CAST(o.vals[21] AS VARCHAR),
                CAST(o.vals[22] AS VARCHAR),
                CAST(o.vals[23] AS VARCHAR),
                CAST(o.vals[24] AS VARCHAR)),
                     '(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9]+);(?:true|false);(?:\[(-?[0-9]+(,-?[0-9]+)*)?\]);(?:-?[0-9]+);(?:\[(-?[0-9]+(,-?[0-9]+)*)?\]);(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9]+);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:-?[0-9][-+.0-9eE]*|NaN|-?Infinity);(?:\[([-0-9.eE+,\[\]]|NaN|Infinity)*)')
                 AND starts_with(CAST(o.vals[2] AS VARCHAR), '"')
         AND starts_with(CAST(o.vals[17] AS VARCHAR), '"')
                 -- DuckDB also reads nan, inf, -INF... inside free-form values and keeps them as
                 -- written: a usual sample without a hint of one (outside strings: "na" or "in"
                 -- after ':', ',', '[' or '-') holds none; any other is searched below
                 AND NOT regexp_matches(concat_ws(',', CAST(o.vals[3] AS VARCHAR), CAST(o.vals[18] AS VARCHAR)), '(?:^|[:,\[-])(?:[nN][aA]|[iI][nN])')
            THEN o.vals
            WHEN o.m IS NULL
            THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] is null, expected an object')
            WHEN list_unique(map_keys(o.m)) <> cardinality(o.m)
            THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '] has the key '
                       || to_json(list_filter(map_keys(o.m), (k, j) -> list_position(map_keys(o.m), k) < j)[1]) || ' twice')
            -- the first known key whose value is not of its column's type
            WHEN list_filter(range(1, len($checked) + 1),
                             j -> o.m[$checked[j]] IS NOT NULL AND NOT regexp_full_match(CAST(o.m[$checked[j]] AS VARCHAR), $patterns[j]))
                 <> []
            THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '].' || list_transform(
                     list_filter(range(1, len($checked) + 1),
                                 j -> o.m[$checked[j]] IS NOT NULL AND NOT regexp_full_match(CAST(o.m[$checked[j]] AS VARCHAR), $patterns[j])),
                     j -> $checked[j] || ': expected ' || $expected[j] || ', found ' ||
                          CASE left(CAST(o.m[$checked[j]] AS VARCHAR), 1)
                              WHEN '"' THEN 'a string' WHEN '{' THEN 'an object' WHEN '[' THEN 'a list'
                              WHEN 't' THEN 'a boolean' WHEN 'f' THEN 'a boolean'
                              ELSE 'the number ' || CAST(o.m[$checked[j]] AS VARCHAR) END)[1])
            -- a number spelled nan, inf, -INF... anywhere outside the strings of a free-form value
            WHEN list_filter(list_transform(map_entries(o.m), e -> e.key || ': the number ' || list_filter(
                     regexp_extract_all(regexp_replace(CAST(e.value AS VARCHAR), '"(?:[^"\\]|\\.)*"', '', 'g'), '-?[A-Za-z]+'),
                     w -> w NOT IN ('true', 'false', 'null', 'NaN', 'Infinity', '-Infinity', 'e', 'E'))[1]), x -> x IS NOT NULL) <> []
            THEN error(o.filename || ': per_sample_results[' || (o.i - 1) || '].' ||
                       list_filter(list_transform(map_entries(o.m), e -> e.key || ': the number ' || list_filter(
                         regexp_extract_all(regexp_replace(CAST(e.value AS VARCHAR), '"(?:[^"\\]|\\.)*"', '', 'g'), '-?[A-Za-z]+'),
                         w -> w NOT IN ('true', 'false', 'null', 'NaN', 'Infinity', '-Infinity', 'e', 'E'))[1]), x -> x IS NOT NULL)[1] || ' is not JSON (only NaN, Infinity and -Infinity are)')
            ELSE list_transform($known, k -> o.m[k])
        END AS v
    FROM (
        SELECT filename, m, i, coalesce(map_keys(m) = $known, false) AS usual, map_values(m) AS vals
        FROM (
            SELECT filename, unnest(per_sample_results) AS m, unnest(range(1, len(per_sample_results) + 1)) AS i
            FROM read_json($paths, columns = {'per_sample_results': 'MAP(VARCHAR, JSON)[]'}, filename = true,
                           format = 'unstructured', maximum_object_size = $max_size)
        )
    ) o
) o
JOIN ingest_batch b ON b.path = o.filename
