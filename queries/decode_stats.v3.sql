-- name: decode_stats
-- version: 3
-- description: Pooled decode figures over every sample in scope, what the report offers for
--   decode_target, one row per hardware: how many samples have a valid T_LLM_decode (a one-token
--   answer's 0.0 included: no decode step ran) and how many miss it; its mean, p50 (median) and
--   p95 in ms; the mean output_tokens; the mean T_decode_per_token in ms. One row of NULLs
--   (hardware NULL) when nothing is in scope.
--   v2: per hardware; each example counted once (padding repeats left out unless include_repeats).
--   v3: the means summed in one order (ascending, fsum), so every run gives the same bits (v2's avg
--   merged partial sums in the order DuckDB's threads finished).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, n, n_missing, mean, p50, p95, output_tokens_mean, per_token_mean

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

-- the samples view already made NaN, 0.0 (but a one-token answer's decode) and implausible latencies NULL
scoped AS (
    SELECT s.hardware, s.T_LLM_decode, s.output_tokens, s.T_decode_per_token
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
      AND (a.include_repeats OR NOT s."repeat")
),

pooled AS (
    SELECT
        hardware,
        count(T_LLM_decode)                               AS n,
        count(*) - count(T_LLM_decode)                    AS n_missing,
        fsum(T_LLM_decode ORDER BY T_LLM_decode) / count(T_LLM_decode) AS mean,
        quantile_cont(T_LLM_decode, 0.5)                  AS p50,
        quantile_cont(T_LLM_decode, 0.95)                 AS p95,
        avg(output_tokens)                                AS output_tokens_mean,  -- integers: an exact sum
        fsum(T_decode_per_token ORDER BY T_decode_per_token) / count(T_decode_per_token) AS per_token_mean
    FROM scoped
    GROUP BY hardware
)

SELECT * FROM pooled
UNION ALL
SELECT NULL, 0, 0, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM pooled)
ORDER BY hardware
