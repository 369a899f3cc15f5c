-- name: store_summary
-- version: 2
-- description: What a report was computed from: the store file, its last ingest, the roots in
--   scope, and the files and samples counted and excluded (one row).
--   v2: the hardware, experiments and datasets in scope (of the files counted), and the padding
--   repeats left out: samples_counted counts each example once unless include_repeats.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- the latency whose missing samples are counted
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: store_path, last_ingest_at, last_ingest_version, ingest_runs, roots, files_counted,
--   files_excluded, samples_counted, samples_missing_prefill, samples_missing_latency,
--   samples_in_excluded_files, samples_repeats, hardware_in_scope, experiments_in_scope, datasets_in_scope,
--   hardware_roots
WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])    AS hardware,
        CAST($experiment AS VARCHAR[])  AS experiment,
        CAST($dataset AS VARCHAR[])     AS dataset,
        CAST($latency_stage AS VARCHAR) AS latency_stage,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

scoped_files AS (
    SELECT f.status, f.root, f.n_samples, f.hardware, f.experiment, f.dataset
    FROM files f, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, f.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, f.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, f.dataset))
),

-- one flag per sample: is the latency the points use missing? is it a repeat left out?
scoped_samples AS (
    SELECT
        s."repeat" AND NOT a.include_repeats AS left_out,
        s.T_LLM_prefill IS NULL AS prefill_missing,
        CASE a.latency_stage
            WHEN 'T_total' THEN s.T_total IS NULL
            WHEN 'T_LLM_prefill' THEN s.T_LLM_prefill IS NULL
            ELSE s.T_vision_total IS NULL OR s.T_LLM_prefill IS NULL
        END AS latency_missing
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
),

-- builders and stores from before ingest_runs have file times only
last_run AS (
    SELECT
        coalesce(max(finished_at), (SELECT max(ingested_at) FROM files)) AS last_ingest_at,
        arg_max(budgetdb_version, finished_at)                             AS last_ingest_version,
        count(*)                                                           AS ingest_runs
    FROM ingest_runs
),

excluded AS (
    SELECT list({'status': status, 'files': n_files, 'samples': n_samples} ORDER BY status) AS files_excluded
    FROM (
        SELECT status, count(*) AS n_files, CAST(coalesce(sum(n_samples), 0) AS BIGINT) AS n_samples
        FROM scoped_files
        WHERE status <> 'ingested'
        GROUP BY status
    )
),

file_counts AS (
    SELECT
        count(*) FILTER (WHERE status = 'ingested')                                          AS files_counted,
        CAST(coalesce(sum(n_samples) FILTER (WHERE status <> 'ingested'), 0) AS BIGINT)      AS samples_in_excluded_files,
        list(DISTINCT root ORDER BY root) FILTER (WHERE status = 'ingested')                 AS roots,
        list(DISTINCT hardware ORDER BY hardware) FILTER (WHERE status = 'ingested')         AS hardware_in_scope,
        list(DISTINCT experiment ORDER BY experiment) FILTER (WHERE status = 'ingested')     AS experiments_in_scope,
        list(DISTINCT dataset ORDER BY dataset) FILTER (WHERE status = 'ingested')           AS datasets_in_scope,
        list(DISTINCT {'hardware': hardware, 'root': root} ORDER BY {'hardware': hardware, 'root': root})
            FILTER (WHERE status = 'ingested')                                               AS hardware_roots
    FROM scoped_files
),

sample_counts AS (
    SELECT
        count(*) FILTER (WHERE NOT left_out)                     AS samples_counted,
        count(*) FILTER (WHERE prefill_missing AND NOT left_out) AS samples_missing_prefill,
        count(*) FILTER (WHERE latency_missing AND NOT left_out) AS samples_missing_latency,
        count(*) FILTER (WHERE left_out)                         AS samples_repeats
    FROM scoped_samples
)

SELECT
    (SELECT path FROM duckdb_databases() WHERE database_name = current_database()) AS store_path,
    r.last_ingest_at,
    r.last_ingest_version,
    r.ingest_runs,
    coalesce(f.roots, [])                 AS roots,
    f.files_counted,
    coalesce(e.files_excluded, [])        AS files_excluded,
    s.samples_counted,
    s.samples_missing_prefill,
    s.samples_missing_latency,
    f.samples_in_excluded_files,
    s.samples_repeats,
    coalesce(f.hardware_in_scope, [])     AS hardware_in_scope,
    coalesce(f.experiments_in_scope, [])  AS experiments_in_scope,
    coalesce(f.datasets_in_scope, [])     AS datasets_in_scope,
    coalesce(f.hardware_roots, [])        AS hardware_roots
FROM last_run r, file_counts f, excluded e, sample_counts s
