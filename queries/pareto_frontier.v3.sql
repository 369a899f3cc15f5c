-- name: pareto_frontier
-- version: 3
-- description: The Pareto frontier of the config points of every hardware and dataset, sorted by
--   latency: the points (config_points without excluded ones) that no other point of the same
--   hardware and dataset strictly dominates (as accurate or more at no more latency, one of them strictly). Exact
--   duplicates both stay. Same columns as config_points (`excluded` is always NULL here).
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: a frontier per hardware and dataset (two GPUs' latencies are never compared), on
--   config_points@v3 (each example counted once).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- which latency a point has; vision_prefill = T_vision_total + T_LLM_prefill per sample
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean' -- which statistic of it per config run
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- uses: config_points@v3
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency, latency_source, excluded, config_run_id

-- the points the frontier considers: config_points without `excluded`
WITH eligible AS (
    SELECT *
    FROM config_points
    WHERE excluded IS NULL
),

-- q dominates p when acc_q >= acc_p and lat_q <= lat_p, one of them strictly. Over the points of
-- a hardware's dataset sorted by latency, p survives when every strictly faster point is less accurate
-- (best_faster < accuracy) and no point of the same latency is more accurate. Exact duplicates
-- both survive. Two window passes, O(n log n); no self-join.
ranked AS (
    SELECT
        *,
        max(accuracy) OVER (PARTITION BY hardware, dataset, latency) AS best_at_latency,
        max(accuracy) OVER (
            PARTITION BY hardware, dataset ORDER BY latency
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP
        ) AS best_faster
    FROM eligible
),

frontier AS (
    SELECT * EXCLUDE (best_at_latency, best_faster)
    FROM ranked
    WHERE accuracy = best_at_latency AND (best_faster IS NULL OR accuracy > best_faster)
)

SELECT
    hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency, latency_source,
    excluded, config_run_id
FROM frontier
ORDER BY hardware, dataset, latency, accuracy DESC, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
