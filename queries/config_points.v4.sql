-- name: config_points
-- version: 4
-- description: One point per config run: mean per-sample accuracy and a latency statistic.
--   A run without per-sample rows falls back to its file's stored summary (latency_stats,
--   else aggregate_stats) and says so in latency_source. Runs the frontier leaves out
--   (latency or accuracy missing or <= 0) are listed too, with the reason in `excluded`.
--   v2: means by compensated summation (fsum): v1's avg gave two runs with equal mean accuracy
--   different last digits, which could put a dominated point on the frontier.
--   v3: each example counted once (padding repeats left out unless include_repeats).
--   v4: the same samples give the same bits in every run: each mean is a compensated sum (fsum) of
--   the values in ascending order (v2 and v3 merged partial sums in the order DuckDB's threads
--   finished, and their last digit varied between runs, enough to split two equal points).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- which latency; vision_prefill = T_vision_total + T_LLM_prefill per sample
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean' -- which statistic of it per config run
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency, latency_source, excluded, config_run_id

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])    AS hardware,
        CAST($experiment AS VARCHAR[])  AS experiment,
        CAST($dataset AS VARCHAR[])     AS dataset,
        CAST($latency_stage AS VARCHAR) AS latency_stage,
        CAST($latency_stat AS VARCHAR)  AS latency_stat,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
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
        END AS ms,
        a.latency_stat <> 'mean' AS wants_quantiles
    FROM samples s
    CROSS JOIN args a
    WHERE s.config_run_id IN (SELECT config_run_id FROM runs)
      AND (a.include_repeats OR NOT s."repeat")
),

from_samples AS (
    SELECT
        config_run_id,
        count(*)                                 AS n,
        -- summed in one order (ascending), whatever order the threads read the samples in
        fsum(accuracy ORDER BY accuracy) / count(accuracy) AS accuracy,
        fsum(ms ORDER BY ms) / count(ms)                   AS mean,
        -- sorting every run's latencies costs more than the rest of the query: only when asked
        quantile_cont(ms, [0.5, 0.95, 0.99]) FILTER (WHERE wants_quantiles) AS q
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
)

SELECT
    hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency, latency_source,
    CASE
        WHEN latency IS NULL THEN 'latency missing'
        WHEN latency <= 0 THEN 'latency <= 0'
        WHEN accuracy IS NULL THEN 'accuracy missing'
        WHEN accuracy <= 0 THEN 'accuracy <= 0'
    END AS excluded,
    config_run_id
FROM points
ORDER BY
    dataset, hardware, experiment,
    CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant,
    top_k, num_active_blocks, config_run_id
