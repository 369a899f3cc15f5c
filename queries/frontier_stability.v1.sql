-- name: frontier_stability
-- version: 1
-- description: How much of each frontier is signal, per hardware and dataset in scope (the report's
--   frontier lines): the number of frontier points, how many of them have p_frontier >= stable_at,
--   and the highest- and lowest-accuracy frontier points (the same ones as frontier_summary) with
--   their 95% intervals, p_frontier, examples and config (config_uncertainty). A dataset without
--   frontier points has n_points 0 and NULLs.
-- param: stable_at DOUBLE BETWEEN 0 AND 1 = 0.9 -- a frontier point is stable when its p_frontier is at least this
-- uses: config_points, pareto_frontier, config_uncertainty
-- returns: hardware, dataset, n_points, n_stable, hi_accuracy, hi_acc_lo, hi_acc_hi, hi_latency, hi_lat_lo, hi_lat_hi, hi_p_frontier, hi_n, hi_tier, hi_top_k, hi_blocks, hi_config_run_id, lo_accuracy, lo_acc_lo, lo_acc_hi, lo_latency, lo_lat_lo, lo_lat_hi, lo_p_frontier, lo_n, lo_tier, lo_top_k, lo_blocks, lo_config_run_id

WITH datasets AS (
    SELECT DISTINCT hardware, dataset FROM config_points
),

points AS (
    SELECT f.*, u.acc_lo, u.acc_hi, u.lat_lo, u.lat_hi, u.p_frontier
    FROM pareto_frontier f
    JOIN config_uncertainty u ON u.config_run_id = f.config_run_id
),

-- the ends as frontier_summary picks them (of exact duplicates, the first config)
per_dataset AS (
    SELECT
        hardware,
        dataset,
        count(*) AS n_points,
        count(*) FILTER (WHERE p_frontier >= CAST($stable_at AS DOUBLE)) AS n_stable,
        first(
            struct_pack(accuracy, acc_lo, acc_hi, latency, lat_lo, lat_hi, p_frontier, n, tier := coalesce(tier, variant), top_k, num_active_blocks, config_run_id)
            ORDER BY accuracy DESC, latency, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
        ) AS hi,
        first(
            struct_pack(accuracy, acc_lo, acc_hi, latency, lat_lo, lat_hi, p_frontier, n, tier := coalesce(tier, variant), top_k, num_active_blocks, config_run_id)
            ORDER BY accuracy, latency, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
        ) AS lo
    FROM points
    GROUP BY hardware, dataset
)

SELECT
    d.hardware,
    d.dataset,
    coalesce(p.n_points, 0) AS n_points,
    CASE WHEN p.n_points IS NOT NULL THEN p.n_stable END AS n_stable,
    p.hi.accuracy AS hi_accuracy, p.hi.acc_lo AS hi_acc_lo, p.hi.acc_hi AS hi_acc_hi,
    p.hi.latency AS hi_latency, p.hi.lat_lo AS hi_lat_lo, p.hi.lat_hi AS hi_lat_hi,
    p.hi.p_frontier AS hi_p_frontier, p.hi.n AS hi_n,
    p.hi.tier AS hi_tier, p.hi.top_k AS hi_top_k, p.hi.num_active_blocks AS hi_blocks, p.hi.config_run_id AS hi_config_run_id,
    p.lo.accuracy AS lo_accuracy, p.lo.acc_lo AS lo_acc_lo, p.lo.acc_hi AS lo_acc_hi,
    p.lo.latency AS lo_latency, p.lo.lat_lo AS lo_lat_lo, p.lo.lat_hi AS lo_lat_hi,
    p.lo.p_frontier AS lo_p_frontier, p.lo.n AS lo_n,
    p.lo.tier AS lo_tier, p.lo.top_k AS lo_top_k, p.lo.num_active_blocks AS lo_blocks, p.lo.config_run_id AS lo_config_run_id
FROM datasets d
LEFT JOIN per_dataset p ON p.hardware = d.hardware AND p.dataset = d.dataset
ORDER BY d.hardware, d.dataset
