-- name: decode_stats
-- version: 1
-- description: Pooled decode figures over every sample in scope, what the report offers for
--   decode_target: how many samples have a valid T_LLM_decode and how many miss it; its mean,
--   p50 (median) and p95 in ms; the mean output_tokens; the mean T_decode_per_token in ms.
--   One row; NULLs when nothing is in scope.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- returns: n, n_missing, mean, p50, p95, output_tokens_mean, per_token_mean

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset
),

-- the samples view already made NaN and 0.0 latencies NULL
scoped AS (
    SELECT s.T_LLM_decode, s.output_tokens, s.T_decode_per_token
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
)

SELECT
    count(T_LLM_decode)                               AS n,
    count(*) - count(T_LLM_decode)                    AS n_missing,
    avg(T_LLM_decode)                                 AS mean,
    quantile_cont(T_LLM_decode, 0.5)                  AS p50,
    quantile_cont(T_LLM_decode, 0.95)                 AS p95,
    avg(output_tokens)                                AS output_tokens_mean,
    avg(T_decode_per_token)                           AS per_token_mean
FROM scoped
