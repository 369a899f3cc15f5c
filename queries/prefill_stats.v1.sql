-- name: prefill_stats
-- version: 1
-- description: Pooled T_LLM_prefill over every sample in scope (the seed's blockquote): how many
--   samples have a valid prefill (not NULL, NaN or 0.0) and how many are missing it; min,
--   p5/p25/p50/p75/p95 (quantile_cont: linear interpolation, numpy's default), max, mean and
--   population std (stddev_pop, numpy's default ddof=0), in ms. One row; NULLs when nothing is in scope.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- returns: n, n_missing, min, p5, p25, p50, p75, p95, max, mean, std

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset
),

-- the samples view already made NaN and 0.0 latencies NULL
scoped AS (
    SELECT s.T_LLM_prefill AS ms
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
),

pooled AS (
    SELECT
        count(ms)                                         AS n,
        count(*) - count(ms)                              AS n_missing,
        min(ms)                                           AS min,
        quantile_cont(ms, [0.05, 0.25, 0.5, 0.75, 0.95])  AS q,
        max(ms)                                           AS max,
        avg(ms)                                           AS mean,
        stddev_pop(ms)                                    AS std
    FROM scoped
)

SELECT
    n, n_missing, min,
    q[1] AS p5, q[2] AS p25, q[3] AS p50, q[4] AS p75, q[5] AS p95,
    max, mean, std
FROM pooled
