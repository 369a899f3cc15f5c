-- name: frontier_summary
-- version: 3
-- description: Per hardware and dataset: the number of frontier points and its highest- and
--   lowest-accuracy points with their configs (tier is the variant for files without a tier).
--   Every hardware's dataset in scope has a row; one without frontier points has n_points 0 and NULLs.
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: per hardware (two GPUs' latencies are never pooled), on pareto_frontier@v3.
--   It reads the queries it uses unpinned (the latest version, or the one a run pins: the report pins all).
-- uses: config_points, pareto_frontier
-- returns: hardware, dataset, n_points, hi_accuracy, hi_latency, hi_tier, hi_top_k, hi_blocks, lo_accuracy, lo_latency, lo_tier, lo_top_k, lo_blocks

-- every hardware's dataset in scope has a row, also one whose points the frontier all left out
WITH datasets AS (
    SELECT DISTINCT hardware, dataset FROM config_points
),

per_dataset AS (
    SELECT
        hardware,
        dataset,
        count(*) AS n_points,
        first(
            struct_pack(accuracy, latency, tier := coalesce(tier, variant), top_k, num_active_blocks)
            ORDER BY accuracy DESC, latency, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
        ) AS hi,
        first(
            struct_pack(accuracy, latency, tier := coalesce(tier, variant), top_k, num_active_blocks)
            ORDER BY accuracy, latency, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
        ) AS lo
    FROM pareto_frontier
    GROUP BY hardware, dataset
)

SELECT
    d.hardware,
    d.dataset,
    coalesce(p.n_points, 0)    AS n_points,
    p.hi.accuracy              AS hi_accuracy,
    p.hi.latency               AS hi_latency,
    p.hi.tier                  AS hi_tier,
    p.hi.top_k                 AS hi_top_k,
    p.hi.num_active_blocks     AS hi_blocks,
    p.lo.accuracy              AS lo_accuracy,
    p.lo.latency               AS lo_latency,
    p.lo.tier                  AS lo_tier,
    p.lo.top_k                 AS lo_top_k,
    p.lo.num_active_blocks     AS lo_blocks
FROM datasets d
LEFT JOIN per_dataset p ON p.hardware = d.hardware AND p.dataset = d.dataset
ORDER BY d.hardware, d.dataset
