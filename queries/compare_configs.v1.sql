-- name: compare_configs
-- version: 1
-- description: What changed, config by config, between the two sides of a comparison (compare_runs):
--   one row per config with per-sample rows on either side (a run with a stored summary only is not
--   compared), `presence` 'both', 'baseline' or 'candidate' (on one side only). For a config
--   on both sides: latency_ratio = candidate / baseline latency statistic and delta_acc = candidate -
--   baseline accuracy, each with its 95% percentile-bootstrap interval over compare_resamples'
--   resamples (paired when `paired`: the same weights for an example on both sides; else the sides
--   resampled independently). p_latency and p_accuracy are two-sided p-values of "no change" (ratio 1,
--   delta 0) from the bootstrap's standard error: z = x / sd(x_r), p = erfc(|z| / sqrt(2)) (the normal
--   approximation; erfc by Abramowitz-Stegun 7.1.26, absolute error < 1.5e-7), x the log ratio or the
--   delta, x_r its value in each resample (sd 0: p = 1 when x = 0, else 0). Counting resamples beyond 0
--   cannot give a p below 2 / (R + 1), too coarse for Benjamini-Hochberg over many configs (a lone change
--   among 81 configs' 162 tests at q = 0.05 would need R > 6,000). q_latency and q_accuracy are
--   Benjamini-Hochberg adjusted p-values over one family: both tests of every config on both sides.
--   A change is flagged (latency_changed, accuracy_changed) when its q <= fdr and its interval does
--   not lie inside the noise band (ratio within 1 +- noise_latency, delta within +- noise_accuracy);
--   else it is no change ("~"). NULL without resamples. Each side's frontier per dataset (the strict
--   dominance rule of pareto_frontier over that side's points): on_frontier_* and p_frontier_*, the
--   share of resamples in which the point is on it; each side's own 95% intervals of its accuracy and
--   latency (acc_baseline_lo ... lat_candidate_hi).
-- param: noise_latency DOUBLE BETWEEN 0 AND 1 = 0.01 -- a latency ratio whose interval lies within 1 +- this is no change
-- param: noise_accuracy DOUBLE BETWEEN 0 AND 1 = 0.005 -- an accuracy difference whose interval lies within +- this is no change
-- param: fdr DOUBLE BETWEEN 0 AND 1 = 0.05 -- the false discovery rate Benjamini-Hochberg controls (q)
-- uses: compare_runs, compare_resamples
-- returns: dataset, tier, variant, top_k, num_active_blocks, presence, paired, n_baseline, n_candidate, acc_baseline, acc_candidate, lat_baseline, lat_candidate, latency_ratio, ratio_lo, ratio_hi, p_latency, q_latency, latency_changed, delta_acc, delta_lo, delta_hi, p_accuracy, q_accuracy, accuracy_changed, on_frontier_baseline, on_frontier_candidate, p_frontier_baseline, p_frontier_candidate, acc_baseline_lo, acc_baseline_hi, lat_baseline_lo, lat_baseline_hi, acc_candidate_lo, acc_candidate_hi, lat_candidate_lo, lat_candidate_hi, baseline_run_id, candidate_run_id, cfg

WITH args AS (
    SELECT
        CAST($noise_latency AS DOUBLE)  AS noise_latency,
        CAST($noise_accuracy AS DOUBLE) AS noise_accuracy,
        CAST($fdr AS DOUBLE)            AS fdr
),

configs AS (
    SELECT
        cfg,
        any_value(dataset) AS dataset,
        any_value(tier) AS tier,
        any_value(variant) AS variant,
        any_value(top_k) AS top_k,
        any_value(num_active_blocks) AS num_active_blocks,
        any_value(config_run_id) FILTER (WHERE side = 'baseline') AS baseline_run_id,
        any_value(config_run_id) FILTER (WHERE side = 'candidate') AS candidate_run_id
    FROM compare_runs
    WHERE has_samples  -- a run with a stored summary only is not compared (compare_runs lists it)
    GROUP BY cfg
),

points AS (
    SELECT
        cfg,
        any_value(paired) = 1 AS paired,
        any_value(n) FILTER (WHERE side = 0) AS n_baseline,
        any_value(n) FILTER (WHERE side = 1) AS n_candidate,
        any_value(accuracy) FILTER (WHERE side = 0) AS acc_baseline,
        any_value(accuracy) FILTER (WHERE side = 1) AS acc_candidate,
        any_value(latency) FILTER (WHERE side = 0) AS lat_baseline,
        any_value(latency) FILTER (WHERE side = 1) AS lat_candidate
    FROM compare_resamples
    WHERE r = -1
    GROUP BY cfg
),

-- each resample of a config on both sides: the candidate's over the baseline's
draws AS (
    SELECT b.cfg, ln(c.latency / b.latency) AS log_ratio, c.latency / b.latency AS ratio, c.accuracy - b.accuracy AS delta
    FROM compare_resamples b
    JOIN compare_resamples c ON c.cfg = b.cfg AND c.r = b.r AND c.side = 1
    WHERE b.side = 0 AND b.r >= 0
),

spread AS (
    SELECT
        cfg,
        quantile_cont(ratio, [0.025, 0.975]) AS ratio_ci,
        quantile_cont(delta, [0.025, 0.975]) AS delta_ci,
        -- sums in one order: the same bits in every run
        fsum(log_ratio ORDER BY log_ratio) / count(log_ratio) AS mean_log_ratio,
        fsum(delta ORDER BY delta) / count(delta) AS mean_delta,
        count(log_ratio) AS n_ratio,
        count(delta) AS n_delta
    FROM draws
    GROUP BY cfg
),

deviations AS (
    SELECT
        s.cfg,
        sqrt(fsum((d.log_ratio - s.mean_log_ratio) ^ 2 ORDER BY (d.log_ratio - s.mean_log_ratio) ^ 2) / (s.n_ratio - 1)) AS sd_log_ratio,
        sqrt(fsum((d.delta - s.mean_delta) ^ 2 ORDER BY (d.delta - s.mean_delta) ^ 2) / (s.n_delta - 1)) AS sd_delta
    FROM spread s
    JOIN draws d ON d.cfg = s.cfg
    WHERE s.n_ratio > 1 AND s.n_delta > 1
    GROUP BY s.cfg, s.n_ratio, s.n_delta
),

z_scores AS (
    SELECT
        s.*,
        CASE WHEN v.sd_log_ratio > 0 THEN abs(ln(p.lat_candidate / p.lat_baseline)) / v.sd_log_ratio
             WHEN ln(p.lat_candidate / p.lat_baseline) = 0 THEN 0 ELSE 'inf'::DOUBLE END AS z_latency,
        CASE WHEN v.sd_delta > 0 THEN abs(p.acc_candidate - p.acc_baseline) / v.sd_delta
             WHEN p.acc_candidate = p.acc_baseline THEN 0 ELSE 'inf'::DOUBLE END AS z_accuracy
    FROM spread s
    JOIN deviations v ON v.cfg = s.cfg
    JOIN points p ON p.cfg = s.cfg
),

-- p = erfc(z / sqrt(2)) (1 at z = 0): Abramowitz and Stegun 7.1.26, erfc(x) = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2), t = 1 / (1 + 0.3275911 x)
bootstrap AS (
    SELECT
        cfg, ratio_ci, delta_ci, n_ratio, n_delta,
        CASE WHEN isinf(z_latency) THEN 0.0 WHEN z_latency = 0 THEN 1.0 ELSE least(1.0, (
            SELECT t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * exp(-x * x)
            FROM (SELECT z_latency / sqrt(2) AS x, 1 / (1 + 0.3275911 * z_latency / sqrt(2)) AS t)
        )) END AS p_latency,
        CASE WHEN isinf(z_accuracy) THEN 0.0 WHEN z_accuracy = 0 THEN 1.0 ELSE least(1.0, (
            SELECT t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * exp(-x * x)
            FROM (SELECT z_accuracy / sqrt(2) AS x, 1 / (1 + 0.3275911 * z_accuracy / sqrt(2)) AS t)
        )) END AS p_accuracy
    FROM z_scores
),

-- Benjamini-Hochberg over one family: the latency and accuracy test of every config on both sides
tests AS (
    SELECT cfg, 'latency' AS test, p_latency AS p FROM bootstrap WHERE n_ratio > 0
    UNION ALL
    SELECT cfg, 'accuracy' AS test, p_accuracy AS p FROM bootstrap WHERE n_delta > 0
),

ranked AS (
    SELECT cfg, test, p, row_number() OVER (ORDER BY p, cfg, test) AS k, count(*) OVER () AS m
    FROM tests
),

adjusted AS (
    SELECT
        cfg,
        test,
        least(1.0, min(m * p / k) OVER (ORDER BY p DESC, cfg DESC, test DESC ROWS UNBOUNDED PRECEDING)) AS q
    FROM ranked
),

-- each side's frontier per dataset and resample (pareto_frontier's rule: a point survives when every
-- strictly faster point is less accurate and no point of the same latency is more accurate)
eligible AS (
    SELECT d.side, c.dataset, d.cfg, d.r, d.accuracy, d.latency
    FROM compare_resamples d
    JOIN configs c ON c.cfg = d.cfg
    WHERE d.accuracy > 0 AND d.latency > 0
),

frontier_ranked AS (
    SELECT
        side, cfg, r, accuracy,
        max(accuracy) OVER (PARTITION BY side, dataset, r, latency) AS best_at_latency,
        max(accuracy) OVER (
            PARTITION BY side, dataset, r ORDER BY latency
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP
        ) AS best_faster
    FROM eligible
),

frontier AS (
    SELECT side, cfg, bool_or(r = -1) AS on_point, count(*) FILTER (WHERE r >= 0) AS times
    FROM frontier_ranked
    WHERE accuracy = best_at_latency AND (best_faster IS NULL OR accuracy > best_faster)
    GROUP BY side, cfg
),

-- each side's own 95% intervals (percentile bootstrap), for plots and tables
side_intervals AS (
    SELECT
        cfg,
        quantile_cont(accuracy, [0.025, 0.975]) FILTER (WHERE side = 0) AS acc_b,
        quantile_cont(latency, [0.025, 0.975]) FILTER (WHERE side = 0) AS lat_b,
        quantile_cont(accuracy, [0.025, 0.975]) FILTER (WHERE side = 1) AS acc_c,
        quantile_cont(latency, [0.025, 0.975]) FILTER (WHERE side = 1) AS lat_c
    FROM compare_resamples
    WHERE r >= 0
    GROUP BY cfg
),

resampled AS (
    SELECT side, count(DISTINCT r) FILTER (WHERE r >= 0) AS resamples FROM compare_resamples GROUP BY side
),

rows AS (
    SELECT
        c.*,
        CASE
            WHEN c.baseline_run_id IS NOT NULL AND c.candidate_run_id IS NOT NULL THEN 'both'
            WHEN c.baseline_run_id IS NOT NULL THEN 'baseline'
            ELSE 'candidate'
        END AS presence,
        p.paired, p.n_baseline, p.n_candidate, p.acc_baseline, p.acc_candidate, p.lat_baseline, p.lat_candidate,
        b.ratio_ci, b.delta_ci, b.p_latency, b.p_accuracy,
        ql.q AS q_latency,
        qa.q AS q_accuracy
    FROM configs c
    LEFT JOIN points p ON p.cfg = c.cfg
    LEFT JOIN bootstrap b ON b.cfg = c.cfg
    LEFT JOIN adjusted ql ON ql.cfg = c.cfg AND ql.test = 'latency'
    LEFT JOIN adjusted qa ON qa.cfg = c.cfg AND qa.test = 'accuracy'
)

SELECT
    x.dataset, x.tier, x.variant, x.top_k, x.num_active_blocks, x.presence,
    CASE WHEN x.presence = 'both' THEN x.paired END AS paired,
    x.n_baseline, x.n_candidate, x.acc_baseline, x.acc_candidate, x.lat_baseline, x.lat_candidate,
    x.lat_candidate / x.lat_baseline AS latency_ratio,
    x.ratio_ci[1] AS ratio_lo,
    x.ratio_ci[2] AS ratio_hi,
    x.p_latency,
    x.q_latency,
    CASE WHEN x.q_latency IS NOT NULL AND x.ratio_ci[1] IS NOT NULL THEN
        x.q_latency <= a.fdr AND NOT (x.ratio_ci[1] >= 1 - a.noise_latency AND x.ratio_ci[2] <= 1 + a.noise_latency)
    END AS latency_changed,
    x.acc_candidate - x.acc_baseline AS delta_acc,
    x.delta_ci[1] AS delta_lo,
    x.delta_ci[2] AS delta_hi,
    x.p_accuracy,
    x.q_accuracy,
    CASE WHEN x.q_accuracy IS NOT NULL AND x.delta_ci[1] IS NOT NULL THEN
        x.q_accuracy <= a.fdr AND NOT (x.delta_ci[1] >= -a.noise_accuracy AND x.delta_ci[2] <= a.noise_accuracy)
    END AS accuracy_changed,
    CASE WHEN x.baseline_run_id IS NOT NULL THEN coalesce(fb.on_point, false) END AS on_frontier_baseline,
    CASE WHEN x.candidate_run_id IS NOT NULL THEN coalesce(fc.on_point, false) END AS on_frontier_candidate,
    CASE WHEN x.baseline_run_id IS NOT NULL AND sb.resamples > 0 THEN coalesce(fb.times, 0) / sb.resamples END AS p_frontier_baseline,
    CASE WHEN x.candidate_run_id IS NOT NULL AND sc.resamples > 0 THEN coalesce(fc.times, 0) / sc.resamples END AS p_frontier_candidate,
    i.acc_b[1] AS acc_baseline_lo, i.acc_b[2] AS acc_baseline_hi, i.lat_b[1] AS lat_baseline_lo, i.lat_b[2] AS lat_baseline_hi,
    i.acc_c[1] AS acc_candidate_lo, i.acc_c[2] AS acc_candidate_hi, i.lat_c[1] AS lat_candidate_lo, i.lat_c[2] AS lat_candidate_hi,
    x.baseline_run_id,
    x.candidate_run_id,
    x.cfg
FROM rows x
LEFT JOIN side_intervals i ON i.cfg = x.cfg
CROSS JOIN args a
LEFT JOIN frontier fb ON fb.cfg = x.cfg AND fb.side = 0
LEFT JOIN frontier fc ON fc.cfg = x.cfg AND fc.side = 1
LEFT JOIN resampled sb ON sb.side = 0
LEFT JOIN resampled sc ON sc.side = 1
ORDER BY x.cfg
