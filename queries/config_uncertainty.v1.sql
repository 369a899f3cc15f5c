-- name: config_uncertainty
-- version: 1
-- description: How sure each config point is, one row per config run in scope (as config_points):
--   its accuracy and latency (config_points) with their 95% percentile-bootstrap intervals (the
--   2.5th and 97.5th percentiles over config_resamples' resamples; NULL without resamples or
--   per-sample rows), and p_frontier, the share of resamples in which the point is on the frontier
--   of its hardware and dataset (the strict dominance rule of pareto_frontier, over each resample's
--   points; a run without per-sample rows takes its point in every resample). For a percentile
--   latency (latency_stat p50, p95, p99) an interval end is NULL where the sample is too small
--   for a finite distribution-free interval ((1-p)^n > 0.025 for the lower end, p^n > 0.025 for
--   the upper: n >= 6 for p50, 72 for p95, 368 for p99): the bootstrap cannot see past the
--   sample's extremes. All figures exact: the same bits in every run.
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean'
-- uses: config_points, config_resamples
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, acc_lo, acc_hi, latency, lat_lo, lat_hi, p_frontier, config_run_id

WITH args AS (
    SELECT CASE CAST($latency_stat AS VARCHAR) WHEN 'p50' THEN 0.5 WHEN 'p95' THEN 0.95 WHEN 'p99' THEN 0.99 END AS q
),

resampled AS (
    SELECT DISTINCT r FROM config_resamples
),

-- every point in every resample: its resampled accuracy and latency, or, for a run without
-- per-sample rows, its point
draws AS (
    SELECT p.hardware, p.dataset, d.config_run_id, d.r, d.accuracy, d.latency
    FROM config_resamples d
    JOIN config_points p ON p.config_run_id = d.config_run_id
    UNION ALL
    SELECT p.hardware, p.dataset, p.config_run_id, s.r, p.accuracy, p.latency
    FROM config_points p, resampled s
    WHERE p.latency_source = 'summary'
),

-- the points each resample's frontier considers (as config_points' `excluded`: none missing or <= 0)
eligible AS (
    SELECT *
    FROM draws
    WHERE accuracy > 0 AND latency > 0 AND NOT isnan(accuracy) AND NOT isnan(latency)
),

-- pareto_frontier's rule per resample, in one window pass: sorted by latency then accuracy
-- descending, a point is on the frontier when every point before its peer group (the strictly
-- faster ones, and those as fast and more accurate) is less accurate: none dominates it; exact
-- duplicates are peers and both stay.
ranked AS (
    SELECT
        config_run_id,
        accuracy,
        max(accuracy) OVER (
            PARTITION BY hardware, dataset, r ORDER BY latency, accuracy DESC
            GROUPS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS best_before
    FROM eligible
),

on_frontier AS (
    SELECT config_run_id, count(*) AS times
    FROM ranked
    WHERE best_before IS NULL OR accuracy > best_before
    GROUP BY config_run_id
),

intervals AS (
    SELECT
        config_run_id,
        quantile_cont(accuracy, [0.025, 0.975]) AS acc,
        quantile_cont(latency, [0.025, 0.975]) AS lat,
        max(n) AS n_latency
    FROM config_resamples
    GROUP BY config_run_id
)

SELECT
    p.hardware, p.experiment, p.dataset, p.tier, p.variant, p.top_k, p.num_active_blocks, p.n,
    p.accuracy,
    i.acc[1] AS acc_lo,
    i.acc[2] AS acc_hi,
    p.latency,
    CASE WHEN a.q IS NULL OR (1 - a.q) ^ i.n_latency <= 0.025 THEN i.lat[1] END AS lat_lo,
    CASE WHEN a.q IS NULL OR a.q ^ i.n_latency <= 0.025 THEN i.lat[2] END AS lat_hi,
    CASE WHEN (SELECT count(*) FROM resampled) > 0
        THEN coalesce(f.times, 0) / (SELECT count(*) FROM resampled)
    END AS p_frontier,
    p.config_run_id
FROM config_points p
CROSS JOIN args a
LEFT JOIN intervals i ON i.config_run_id = p.config_run_id
LEFT JOIN on_frontier f ON f.config_run_id = p.config_run_id
ORDER BY
    p.dataset, p.hardware, p.experiment,
    CASE p.tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, p.variant,
    p.top_k, p.num_active_blocks, p.config_run_id
