-- name: pareto_frontier
-- version: 3
-- description: The Pareto frontier of the config points of every hardware and dataset, sorted by
--   latency: the points (config_points without excluded ones) that no other point of the same
--   hardware and dataset strictly dominates (as accurate or more at no more latency, one of them strictly). Exact
--   duplicates both stay. Same columns as config_points (`excluded` is always NULL here).
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: a frontier per hardware and dataset (two GPUs' latencies are never compared), on
--   config_points@v3 (each example counted once).
--   It reads the queries it uses unpinned (the latest version, or the one a run pins: the report pins all).
-- uses: config_points
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
