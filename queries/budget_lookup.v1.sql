-- name: budget_lookup
-- version: 1
-- description: The lookup table a budget-aware controller starts from: for each budget (the
--   budget_range list, or the `budgets` given) and each dataset in scope, the frontier config
--   with the highest accuracy whose latency <= budget, and its slack (budget - latency).
--   NULL config when nothing fits. Of exact duplicates, the first config (tier, top_k, blocks) is shown.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- which latency a point has; vision_prefill = T_vision_total + T_LLM_prefill per sample
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean' -- which statistic of it per config run
-- param: step DOUBLE = 10 -- rounding step of the range bounds (ms)
-- param: coarse_step DOUBLE = 50 -- the budget list holds every multiple of this strictly inside the range (ms)
-- param: budgets DOUBLE[] = NULL -- these budgets in ms, e.g. 170,200,250 (NULL = the budget_range list)
-- returns: budget, dataset, hardware, experiment, tier, variant, top_k, num_active_blocks, accuracy, latency, slack, config_run_id

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])    AS hardware,
        CAST($experiment AS VARCHAR[])  AS experiment,
        CAST($dataset AS VARCHAR[])     AS dataset,
        CAST($latency_stage AS VARCHAR) AS latency_stage,
        CAST($latency_stat AS VARCHAR)  AS latency_stat,
        CASE WHEN $step > 0 THEN CAST($step AS DOUBLE) ELSE error('step must be > 0') END AS step,
        CASE WHEN $coarse_step > 0 THEN CAST($coarse_step AS DOUBLE) ELSE error('coarse_step must be > 0') END AS coarse_step,
        CAST($budgets AS DOUBLE[])      AS budgets
),

runs AS (
    SELECT c.*
    FROM config_runs c, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, c.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, c.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, c.dataset))
),

-- one latency value per sample: the chosen stage (the samples view already made NaN and 0.0 NULL)
sample_values AS (
    SELECT
        s.config_run_id,
        CASE WHEN isnan(s.accuracy) THEN NULL ELSE s.accuracy END AS accuracy,
        CASE a.latency_stage
            WHEN 'T_total' THEN s.T_total
            WHEN 'T_LLM_prefill' THEN s.T_LLM_prefill
            WHEN 'vision_prefill' THEN s.T_vision_total + s.T_LLM_prefill
        END AS ms
    FROM samples s
    CROSS JOIN args a
    WHERE s.config_run_id IN (SELECT config_run_id FROM runs)
),

from_samples AS (
    SELECT
        config_run_id,
        count(*)                                 AS n,
        avg(accuracy)                            AS accuracy,
        avg(ms)                                  AS mean,
        quantile_cont(ms, [0.5, 0.95, 0.99])     AS q
    FROM sample_values
    GROUP BY config_run_id
),

-- the stored summary of runs without per-sample rows, one row per key; latency_stats wins over aggregate_stats
summary_entries AS (
    SELECT r.config_run_id, e.key, 1 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM runs r, json_each(r.latency_stats) e
    WHERE r.config_run_id NOT IN (SELECT config_run_id FROM from_samples)
    UNION ALL
    SELECT r.config_run_id, e.key, 2 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM runs r, json_each(r.aggregate_stats) e
    WHERE r.config_run_id NOT IN (SELECT config_run_id FROM from_samples)
),

summary_values AS (
    SELECT config_run_id, key, arg_min(ms, priority) AS ms
    FROM summary_entries
    WHERE ms IS NOT NULL AND NOT isnan(ms) AND ms <> 0
    GROUP BY config_run_id, key
),

-- percentiles of a sum are not sums of percentiles: vision_prefill from a summary exists for the mean only
summary_keys AS (
    SELECT CASE
        WHEN latency_stage <> 'vision_prefill' THEN [latency_stage || '_' || latency_stat]
        WHEN latency_stat = 'mean' THEN ['T_vision_total_mean', 'T_LLM_prefill_mean']
        ELSE []
    END AS keys
    FROM args
),

from_summary AS (
    SELECT v.config_run_id, CASE WHEN count(*) = len(k.keys) THEN sum(v.ms) END AS latency
    FROM summary_values v, summary_keys k
    WHERE list_contains(k.keys, v.key)
    GROUP BY v.config_run_id, k.keys
),

points AS (
    SELECT
        r.hardware,
        r.experiment,
        r.dataset,
        r.tier,
        r.variant,
        r.top_k,
        r.num_active_blocks,
        CASE WHEN fs.config_run_id IS NULL THEN r.num_samples_written ELSE fs.n END AS n,
        CASE
            WHEN fs.config_run_id IS NOT NULL THEN fs.accuracy
            WHEN NOT isnan(r.accuracy) THEN r.accuracy
        END AS accuracy,
        CASE
            WHEN fs.config_run_id IS NULL THEN su.latency
            WHEN a.latency_stat = 'mean' THEN fs.mean
            WHEN a.latency_stat = 'p50' THEN fs.q[1]
            WHEN a.latency_stat = 'p95' THEN fs.q[2]
            WHEN a.latency_stat = 'p99' THEN fs.q[3]
        END AS latency,
        CASE WHEN fs.config_run_id IS NULL THEN 'summary' ELSE 'samples' END AS latency_source,
        r.config_run_id
    FROM runs r
    CROSS JOIN args a
    LEFT JOIN from_samples fs ON fs.config_run_id = r.config_run_id
    LEFT JOIN from_summary su ON su.config_run_id = r.config_run_id
),

-- the points the frontier considers: config_points without `excluded`
eligible AS (
    SELECT *
    FROM points
    WHERE latency > 0 AND accuracy > 0
),

-- q dominates p when acc_q >= acc_p and lat_q <= lat_p, one of them strictly. Over the points of
-- a dataset sorted by latency, p survives when every strictly faster point is less accurate
-- (best_faster < accuracy) and no point of the same latency is more accurate. Exact duplicates
-- both survive. Two window passes, O(n log n); no self-join.
ranked AS (
    SELECT
        *,
        max(accuracy) OVER (PARTITION BY dataset, latency) AS best_at_latency,
        max(accuracy) OVER (
            PARTITION BY dataset ORDER BY latency
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP
        ) AS best_faster
    FROM eligible
),

frontier AS (
    SELECT * EXCLUDE (best_at_latency, best_faster)
    FROM ranked
    WHERE accuracy = best_at_latency AND (best_faster IS NULL OR accuracy > best_faster)
),

-- a dataset's latency range: [latency of its lowest-accuracy, of its highest-accuracy frontier point]
ranges AS (
    SELECT
        dataset,
        first(latency ORDER BY accuracy, latency) AS range_min,
        first(latency ORDER BY accuracy DESC, latency) AS range_max
    FROM frontier
    GROUP BY dataset
),

across AS (
    SELECT
        min(range_min)                                  AS min_latency,
        first(dataset ORDER BY range_min, dataset)      AS min_dataset,
        max(range_max)                                  AS max_latency,
        first(dataset ORDER BY range_max DESC, dataset) AS max_dataset,
        avg(range_min)                                  AS mean_min,
        avg(range_max)                                  AS mean_max,
        quantile_cont(range_min, 0.5)                   AS median_min,
        quantile_cont(range_max, 0.5)                   AS median_max
    FROM ranges
),

-- ceil(x / step) * step, with x / step rounded to 9 decimals first so that a bound already on
-- the step stays there (1.1 / 0.1 is 11.000000000000002 in floating point); result rounded alike
bounds AS (
    SELECT
        x.*,
        round(ceil(round(x.min_latency / a.step, 9)) * a.step, 9) AS lower,
        round(ceil(round(x.max_latency / a.step, 9)) * a.step, 9) AS upper
    FROM across x, args a
),

-- lower, every multiple of coarse_step strictly between lower and upper, upper
budget_list AS (
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

budget_values AS (
    SELECT DISTINCT unnest(coalesce(a.budgets, l.budgets)) AS budget
    FROM args a, budget_list l
),

datasets AS (
    SELECT DISTINCT dataset FROM runs
),

grid AS (
    SELECT v.budget, d.dataset
    FROM budget_values v
    CROSS JOIN datasets d
    WHERE v.budget IS NOT NULL
),

-- along a frontier accuracy rises with latency, so the most accurate point within a budget is
-- the slowest one that fits: an ASOF join. Exact duplicates collapse to their first config.
choices AS (
    SELECT *
    FROM frontier
    QUALIFY row_number() OVER (PARTITION BY dataset, latency ORDER BY CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id) = 1
)

SELECT
    g.budget, g.dataset,
    c.hardware, c.experiment, c.tier, c.variant, c.top_k, c.num_active_blocks,
    c.accuracy, c.latency,
    g.budget - c.latency AS slack,
    c.config_run_id
FROM grid g
ASOF LEFT JOIN choices c ON g.dataset = c.dataset AND g.budget >= c.latency
ORDER BY g.budget, g.dataset
