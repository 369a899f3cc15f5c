-- name: frontier_summary
-- version: 1
-- description: Per dataset: the number of frontier points and its highest- and lowest-accuracy
--   points with their configs (tier is the variant for files without a tier). Every dataset
--   in scope has a row; one without frontier points has n_points 0 and NULLs.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- which latency a point has; vision_prefill = T_vision_total + T_LLM_prefill per sample
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean' -- which statistic of it per config run
-- returns: dataset, n_points, hi_accuracy, hi_latency, hi_tier, hi_top_k, hi_blocks, lo_accuracy, lo_latency, lo_tier, lo_top_k, lo_blocks

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])    AS hardware,
        CAST($experiment AS VARCHAR[])  AS experiment,
        CAST($dataset AS VARCHAR[])     AS dataset,
        CAST($latency_stage AS VARCHAR) AS latency_stage,
        CAST($latency_stat AS VARCHAR)  AS latency_stat
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

datasets AS (
    SELECT DISTINCT dataset FROM runs
),

per_dataset AS (
    SELECT
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
    FROM frontier
    GROUP BY dataset
)

SELECT
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
LEFT JOIN per_dataset p ON p.dataset = d.dataset
ORDER BY d.dataset
