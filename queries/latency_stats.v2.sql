-- name: latency_stats
-- version: 2
-- description: Per config run and stage (T_vision_total, T_LLM_prefill, T_LLM_decode, T_total,
--   T_decode_per_token): how many samples have a valid value, and its mean, p50, p95 and p99
--   in ms (quantile_cont). A run without per-sample rows shows its file's stored summary
--   (latency_stats, else aggregate_stats; n NULL) and says so in `source`.
--   v2: each example counted once (padding repeats left out unless include_repeats); a one-token
--   answer's 0.0 decode is a value (the samples view, schema 3).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, stage, n, mean, p50, p95, p99, source, config_run_id

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

runs AS (
    SELECT c.*
    FROM config_runs c, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, c.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, c.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, c.dataset))
),

stages (stage, stage_order) AS (
    VALUES ('T_vision_total', 1), ('T_LLM_prefill', 2), ('T_LLM_decode', 3), ('T_total', 4), ('T_decode_per_token', 5)
),

-- one row per sample and stage; the samples view already made NaN and 0.0 latencies NULL
sample_values AS (
    UNPIVOT (
        SELECT config_run_id, T_vision_total, T_LLM_prefill, T_LLM_decode, T_total, T_decode_per_token
        FROM samples
        WHERE config_run_id IN (SELECT config_run_id FROM runs)
          AND ((SELECT include_repeats FROM args) OR NOT "repeat")
    )
    ON T_vision_total, T_LLM_prefill, T_LLM_decode, T_total, T_decode_per_token
    INTO NAME stage VALUE ms
),

from_samples AS (
    SELECT config_run_id, stage, count(ms) AS n, avg(ms) AS mean, quantile_cont(ms, [0.5, 0.95, 0.99]) AS q
    FROM sample_values
    GROUP BY config_run_id, stage
),

runs_with_samples AS (
    SELECT DISTINCT config_run_id
    FROM samples
    WHERE config_run_id IN (SELECT config_run_id FROM runs)
),

-- the stored summary of runs without per-sample rows, one row per key; latency_stats wins over aggregate_stats
summary_entries AS (
    SELECT r.config_run_id, e.key, 1 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM runs r, json_each(r.latency_stats) e
    WHERE r.config_run_id NOT IN (SELECT config_run_id FROM runs_with_samples)
    UNION ALL
    SELECT r.config_run_id, e.key, 2 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM runs r, json_each(r.aggregate_stats) e
    WHERE r.config_run_id NOT IN (SELECT config_run_id FROM runs_with_samples)
),

summary_values AS (
    SELECT config_run_id, key, arg_min(ms, priority) AS ms
    FROM summary_entries
    WHERE ms IS NOT NULL AND NOT isnan(ms) AND ms <> 0
    GROUP BY config_run_id, key
),

from_summary AS (
    SELECT
        config_run_id,
        st.stage,
        max(v.ms) FILTER (WHERE v.key = st.stage || '_mean') AS mean,
        max(v.ms) FILTER (WHERE v.key = st.stage || '_p50')  AS p50,
        max(v.ms) FILTER (WHERE v.key = st.stage || '_p95')  AS p95,
        max(v.ms) FILTER (WHERE v.key = st.stage || '_p99')  AS p99
    FROM summary_values v, stages st
    GROUP BY config_run_id, st.stage
)

SELECT
    r.hardware, r.experiment, r.dataset, r.tier, r.variant, r.top_k, r.num_active_blocks,
    st.stage,
    CASE WHEN w.config_run_id IS NOT NULL THEN coalesce(fs.n, 0) END            AS n,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.mean ELSE su.mean END         AS mean,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.q[1] ELSE su.p50 END          AS p50,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.q[2] ELSE su.p95 END          AS p95,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.q[3] ELSE su.p99 END          AS p99,
    CASE WHEN w.config_run_id IS NOT NULL THEN 'samples' ELSE 'summary' END     AS source,
    r.config_run_id
FROM runs r
CROSS JOIN stages st
LEFT JOIN runs_with_samples w ON w.config_run_id = r.config_run_id
LEFT JOIN from_samples fs ON fs.config_run_id = r.config_run_id AND fs.stage = st.stage
LEFT JOIN from_summary su ON su.config_run_id = r.config_run_id AND su.stage = st.stage
ORDER BY
    r.dataset, r.hardware, r.experiment,
    CASE r.tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, r.variant,
    r.top_k, r.num_active_blocks, r.config_run_id, st.stage_order
