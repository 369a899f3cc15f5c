-- name: compare_summary
-- version: 1
-- description: A comparison at a glance, one row per dataset on either side and one for all of them
--   (dataset NULL): configs on both sides and on one side only, how many changed (compare_configs'
--   flags), the geometric-mean latency ratio over the configs on both sides, exp(mean(ln ratio)), with
--   its 95% percentile-bootstrap interval (the same mean in every resample of compare_resamples), and
--   each side's budget range and list as budget_range computes them from that side's frontier
--   (compare_configs' on_frontier_*): a dataset's range is the latency of its lowest- and of its
--   highest-accuracy frontier point, all datasets' the smallest and largest of those; lower and upper
--   rounded up to a multiple of step, the list lower, every multiple of coarse_step strictly between,
--   upper. Every mean is summed in one order: the same bits in every run.
-- param: step DOUBLE BETWEEN 0.001 AND 3600000 = 10 -- rounding step of the range bounds (ms)
-- param: coarse_step DOUBLE BETWEEN 0.001 AND 3600000 = 50 -- the budget list holds every multiple of this strictly inside the range (ms)
-- uses: compare_resamples, compare_configs
-- returns: dataset, n_matched, n_only_baseline, n_only_candidate, n_latency_changed, n_accuracy_changed, geomean_ratio, geomean_lo, geomean_hi, baseline_min, baseline_max, baseline_lower, baseline_upper, baseline_budgets, candidate_min, candidate_max, candidate_lower, candidate_upper, candidate_budgets

WITH args AS (
    SELECT CAST($step AS DOUBLE) AS step, CAST($coarse_step AS DOUBLE) AS coarse_step
),

datasets AS (
    SELECT DISTINCT dataset FROM compare_configs
    UNION ALL
    SELECT NULL
),

matched AS (
    SELECT cfg, dataset, ln(latency_ratio) AS log_ratio FROM compare_configs WHERE presence = 'both' AND latency_ratio > 0
),

-- the mean log ratio over the matched configs, in every resample
per_resample AS (
    SELECT d.dataset, b.r, fsum(ln(c.latency / b.latency) ORDER BY ln(c.latency / b.latency)) / count(*) AS mean_log
    FROM compare_resamples b
    JOIN compare_resamples c ON c.cfg = b.cfg AND c.r = b.r AND c.side = 1
    JOIN matched m ON m.cfg = b.cfg
    JOIN datasets d ON d.dataset = m.dataset OR d.dataset IS NULL
    WHERE b.side = 0 AND b.r >= 0 AND c.latency > 0 AND b.latency > 0
    GROUP BY d.dataset, b.r
),

geomean AS (
    SELECT
        d.dataset,
        (SELECT exp(fsum(log_ratio ORDER BY log_ratio) / count(*)) FROM matched m WHERE d.dataset IS NULL OR m.dataset = d.dataset)
            AS geomean_ratio,
        (SELECT exp(quantile_cont(mean_log, 0.025)) FROM per_resample p WHERE p.dataset IS NOT DISTINCT FROM d.dataset)
            AS geomean_lo,
        (SELECT exp(quantile_cont(mean_log, 0.975)) FROM per_resample p WHERE p.dataset IS NOT DISTINCT FROM d.dataset)
            AS geomean_hi
    FROM datasets d
),

-- each side's frontier range per dataset: the latencies of its lowest- and highest-accuracy points
frontier AS (
    SELECT 'baseline' AS side, dataset, tier, variant, top_k, num_active_blocks, acc_baseline AS accuracy, lat_baseline AS latency
    FROM compare_configs WHERE on_frontier_baseline
    UNION ALL
    SELECT 'candidate' AS side, dataset, tier, variant, top_k, num_active_blocks, acc_candidate, lat_candidate
    FROM compare_configs WHERE on_frontier_candidate
),

ranges AS (
    SELECT
        side,
        dataset,
        first(latency ORDER BY accuracy, latency, variant, top_k, num_active_blocks) AS range_min,
        first(latency ORDER BY accuracy DESC, latency, variant, top_k, num_active_blocks) AS range_max
    FROM frontier
    GROUP BY side, dataset
),

side_ranges AS (
    SELECT d.dataset, s.side, min(r.range_min) AS range_min, max(r.range_max) AS range_max
    FROM datasets d
    CROSS JOIN (VALUES ('baseline'), ('candidate')) s(side)
    LEFT JOIN ranges r ON r.side = s.side AND (d.dataset IS NULL OR r.dataset = d.dataset)
    GROUP BY d.dataset, s.side
),

-- budget_range's rounding: ceil(x / step) * step, x / step rounded to 9 decimals first
bounds AS (
    SELECT
        x.*,
        round(ceil(round(x.range_min / a.step, 9)) * a.step, 9) AS lower,
        round(ceil(round(x.range_max / a.step, 9)) * a.step, 9) AS upper
    FROM side_ranges x, args a
),

budget_lists AS (
    SELECT
        b.*,
        CASE
            WHEN b.lower IS NULL THEN NULL
            WHEN b.upper = b.lower THEN [b.lower]
            ELSE list_concat(
                [b.lower],
                list_transform(
                    range(
                        CAST(floor(round(b.lower / a.coarse_step, 9)) AS BIGINT) + 1,
                        CAST(ceil(round(b.upper / a.coarse_step, 9)) AS BIGINT)
                    ),
                    lambda m: round(m * a.coarse_step, 9)
                ),
                [b.upper]
            )
        END AS budgets
    FROM bounds b, args a
),

counts AS (
    SELECT
        d.dataset,
        count(c.cfg) FILTER (WHERE c.presence = 'both') AS n_matched,
        count(c.cfg) FILTER (WHERE c.presence = 'baseline') AS n_only_baseline,
        count(c.cfg) FILTER (WHERE c.presence = 'candidate') AS n_only_candidate,
        count(c.cfg) FILTER (WHERE c.latency_changed) AS n_latency_changed,
        count(c.cfg) FILTER (WHERE c.accuracy_changed) AS n_accuracy_changed
    FROM datasets d
    LEFT JOIN compare_configs c ON d.dataset IS NULL OR c.dataset = d.dataset
    GROUP BY d.dataset
)

SELECT
    c.dataset, c.n_matched, c.n_only_baseline, c.n_only_candidate, c.n_latency_changed, c.n_accuracy_changed,
    g.geomean_ratio, g.geomean_lo, g.geomean_hi,
    b.range_min AS baseline_min, b.range_max AS baseline_max, b.lower AS baseline_lower, b.upper AS baseline_upper,
    b.budgets AS baseline_budgets,
    k.range_min AS candidate_min, k.range_max AS candidate_max, k.lower AS candidate_lower, k.upper AS candidate_upper,
    k.budgets AS candidate_budgets
FROM counts c
JOIN geomean g ON g.dataset IS NOT DISTINCT FROM c.dataset
JOIN budget_lists b ON b.dataset IS NOT DISTINCT FROM c.dataset AND b.side = 'baseline'
JOIN budget_lists k ON k.dataset IS NOT DISTINCT FROM c.dataset AND k.side = 'candidate'
ORDER BY c.dataset NULLS LAST
