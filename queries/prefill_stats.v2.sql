-- name: prefill_stats
-- version: 2
-- description: Pooled T_LLM_prefill over every sample in scope (the seed's blockquote), one row per
--   hardware (latencies of two GPUs are never pooled): how many samples have a valid prefill (not
--   NULL, NaN or 0.0) and how many are missing it; min, p5/p25/p50/p75/p95 (quantile_cont: linear
--   interpolation, numpy's default), max, mean and population std (stddev_pop, numpy's default
--   ddof=0), in ms; and the padding repeats left out. One row of NULLs (hardware NULL) when
--   nothing is in scope.
--   v2: per hardware; each example counted once (padding repeats left out unless include_repeats).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, n, n_missing, min, p5, p25, p50, p75, p95, max, mean, std, n_repeats

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

-- the samples view already made NaN, 0.0 and implausible latencies NULL
scoped AS (
    SELECT s.hardware, s.T_LLM_prefill AS ms, s."repeat" AND NOT a.include_repeats AS left_out
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
),

pooled AS (
    SELECT
        hardware,
        count(ms) FILTER (WHERE NOT left_out)                                        AS n,
        count(*) FILTER (WHERE NOT left_out) - count(ms) FILTER (WHERE NOT left_out) AS n_missing,
        min(ms) FILTER (WHERE NOT left_out)                                          AS min,
        quantile_cont(ms, [0.05, 0.25, 0.5, 0.75, 0.95]) FILTER (WHERE NOT left_out)  AS q,
        max(ms) FILTER (WHERE NOT left_out)                                          AS max,
        avg(ms) FILTER (WHERE NOT left_out)                                          AS mean,
        stddev_pop(ms) FILTER (WHERE NOT left_out)                                   AS std,
        count(*) FILTER (WHERE left_out)                                             AS n_repeats
    FROM scoped
    GROUP BY hardware
)

SELECT
    hardware, n, n_missing, min,
    q[1] AS p5, q[2] AS p25, q[3] AS p50, q[4] AS p75, q[5] AS p95,
    max, mean, std, n_repeats
FROM pooled
UNION ALL
SELECT NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0
WHERE NOT EXISTS (SELECT 1 FROM pooled)
ORDER BY hardware
