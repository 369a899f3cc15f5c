-- budgetdb store schema, version 4: config_stats, typed per-config statistics.
-- One row per config run: how many examples its samples hold (each padding repeat left out, as
-- every query does) and the repeats left out, the mean accuracy, and per stage latency the
-- valid values' count, mean and p50 / p95 / p99 (quantile_cont: linear interpolation, numpy's
-- default) in ms, as DOUBLE, so `T_total_p95 > 300` compares numbers. A config run without
-- per-sample rows shows its file's stored summary (latency_stats, else aggregate_stats; counts
-- NULL) and says so in `source`. Column comments (DESCRIBE, duckdb_columns()) come from
-- store/column_docs.py, applied after every upgrade.

CREATE VIEW config_stats AS
WITH from_samples AS (
    SELECT
        config_run_id,
        count(*)                                    AS n,
        fsum(CASE WHEN isnan(accuracy) THEN NULL ELSE accuracy END)
          / count(CASE WHEN isnan(accuracy) THEN NULL ELSE accuracy END) AS accuracy,
        count(T_vision_total)                                    AS T_vision_total_n,
        fsum(T_vision_total) / count(T_vision_total)                        AS T_vision_total_mean,
        quantile_cont(T_vision_total, [0.5, 0.95, 0.99])         AS T_vision_total_q,
        count(T_LLM_prefill)                                    AS T_LLM_prefill_n,
        fsum(T_LLM_prefill) / count(T_LLM_prefill)                        AS T_LLM_prefill_mean,
        quantile_cont(T_LLM_prefill, [0.5, 0.95, 0.99])         AS T_LLM_prefill_q,
        count(T_LLM_decode)                                    AS T_LLM_decode_n,
        fsum(T_LLM_decode) / count(T_LLM_decode)                        AS T_LLM_decode_mean,
        quantile_cont(T_LLM_decode, [0.5, 0.95, 0.99])         AS T_LLM_decode_q,
        count(T_total)                                    AS T_total_n,
        fsum(T_total) / count(T_total)                        AS T_total_mean,
        quantile_cont(T_total, [0.5, 0.95, 0.99])         AS T_total_q,
        count(T_decode_per_token)                                    AS T_decode_per_token_n,
        fsum(T_decode_per_token) / count(T_decode_per_token)                        AS T_decode_per_token_mean,
        quantile_cont(T_decode_per_token, [0.5, 0.95, 0.99])         AS T_decode_per_token_q
    FROM samples
    WHERE NOT "repeat"
    GROUP BY config_run_id
),

repeats AS (
    SELECT config_run_id, count(*) AS n_repeats
    FROM samples
    WHERE "repeat"
    GROUP BY config_run_id
),

-- the stored summary of runs without per-sample rows, one row per key; latency_stats wins
summary_entries AS (
    SELECT c.config_run_id, e.key, 1 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM config_runs c, json_each(c.latency_stats) e
    WHERE c.config_run_id NOT IN (SELECT config_run_id FROM from_samples)
    UNION ALL
    SELECT c.config_run_id, e.key, 2 AS priority, TRY_CAST(json_extract_string(e.value, '$') AS DOUBLE) AS ms
    FROM config_runs c, json_each(c.aggregate_stats) e
    WHERE c.config_run_id NOT IN (SELECT config_run_id FROM from_samples)
),

from_summary AS (
    SELECT
        config_run_id,
        max(ms) FILTER (WHERE key = 'T_vision_total_mean') AS T_vision_total_mean,
        max(ms) FILTER (WHERE key = 'T_vision_total_p50') AS T_vision_total_p50,
        max(ms) FILTER (WHERE key = 'T_vision_total_p95') AS T_vision_total_p95,
        max(ms) FILTER (WHERE key = 'T_vision_total_p99') AS T_vision_total_p99,
        max(ms) FILTER (WHERE key = 'T_LLM_prefill_mean') AS T_LLM_prefill_mean,
        max(ms) FILTER (WHERE key = 'T_LLM_prefill_p50') AS T_LLM_prefill_p50,
        max(ms) FILTER (WHERE key = 'T_LLM_prefill_p95') AS T_LLM_prefill_p95,
        max(ms) FILTER (WHERE key = 'T_LLM_prefill_p99') AS T_LLM_prefill_p99,
        max(ms) FILTER (WHERE key = 'T_LLM_decode_mean') AS T_LLM_decode_mean,
        max(ms) FILTER (WHERE key = 'T_LLM_decode_p50') AS T_LLM_decode_p50,
        max(ms) FILTER (WHERE key = 'T_LLM_decode_p95') AS T_LLM_decode_p95,
        max(ms) FILTER (WHERE key = 'T_LLM_decode_p99') AS T_LLM_decode_p99,
        max(ms) FILTER (WHERE key = 'T_total_mean') AS T_total_mean,
        max(ms) FILTER (WHERE key = 'T_total_p50') AS T_total_p50,
        max(ms) FILTER (WHERE key = 'T_total_p95') AS T_total_p95,
        max(ms) FILTER (WHERE key = 'T_total_p99') AS T_total_p99,
        max(ms) FILTER (WHERE key = 'T_decode_per_token_mean') AS T_decode_per_token_mean,
        max(ms) FILTER (WHERE key = 'T_decode_per_token_p50') AS T_decode_per_token_p50,
        max(ms) FILTER (WHERE key = 'T_decode_per_token_p95') AS T_decode_per_token_p95,
        max(ms) FILTER (WHERE key = 'T_decode_per_token_p99') AS T_decode_per_token_p99
    FROM (
        SELECT config_run_id, key, arg_min(ms, priority) AS ms
        FROM summary_entries
        WHERE ms IS NOT NULL AND NOT isnan(ms) AND ms > 0 AND ms <= 3600000
        GROUP BY config_run_id, key
    )
    GROUP BY config_run_id
)

SELECT
    c.config_run_id,
    c.hardware, c.experiment, c.dataset, c.tier, c.variant, c.top_k, c.num_active_blocks,
    CASE WHEN st.config_run_id IS NULL THEN 'summary' ELSE 'samples' END AS source,
    st.n,
    CASE WHEN st.config_run_id IS NULL THEN NULL ELSE coalesce(r.n_repeats, 0) END AS n_repeats,
    CASE WHEN st.config_run_id IS NOT NULL THEN st.accuracy
         WHEN NOT isnan(c.accuracy) THEN c.accuracy END AS accuracy,
    st.T_vision_total_n,
    coalesce(st.T_vision_total_mean, su.T_vision_total_mean) AS T_vision_total_mean,
    coalesce(st.T_vision_total_q[1], su.T_vision_total_p50) AS T_vision_total_p50,
    coalesce(st.T_vision_total_q[2], su.T_vision_total_p95) AS T_vision_total_p95,
    coalesce(st.T_vision_total_q[3], su.T_vision_total_p99) AS T_vision_total_p99,
    st.T_LLM_prefill_n,
    coalesce(st.T_LLM_prefill_mean, su.T_LLM_prefill_mean) AS T_LLM_prefill_mean,
    coalesce(st.T_LLM_prefill_q[1], su.T_LLM_prefill_p50) AS T_LLM_prefill_p50,
    coalesce(st.T_LLM_prefill_q[2], su.T_LLM_prefill_p95) AS T_LLM_prefill_p95,
    coalesce(st.T_LLM_prefill_q[3], su.T_LLM_prefill_p99) AS T_LLM_prefill_p99,
    st.T_LLM_decode_n,
    coalesce(st.T_LLM_decode_mean, su.T_LLM_decode_mean) AS T_LLM_decode_mean,
    coalesce(st.T_LLM_decode_q[1], su.T_LLM_decode_p50) AS T_LLM_decode_p50,
    coalesce(st.T_LLM_decode_q[2], su.T_LLM_decode_p95) AS T_LLM_decode_p95,
    coalesce(st.T_LLM_decode_q[3], su.T_LLM_decode_p99) AS T_LLM_decode_p99,
    st.T_total_n,
    coalesce(st.T_total_mean, su.T_total_mean) AS T_total_mean,
    coalesce(st.T_total_q[1], su.T_total_p50) AS T_total_p50,
    coalesce(st.T_total_q[2], su.T_total_p95) AS T_total_p95,
    coalesce(st.T_total_q[3], su.T_total_p99) AS T_total_p99,
    st.T_decode_per_token_n,
    coalesce(st.T_decode_per_token_mean, su.T_decode_per_token_mean) AS T_decode_per_token_mean,
    coalesce(st.T_decode_per_token_q[1], su.T_decode_per_token_p50) AS T_decode_per_token_p50,
    coalesce(st.T_decode_per_token_q[2], su.T_decode_per_token_p95) AS T_decode_per_token_p95,
    coalesce(st.T_decode_per_token_q[3], su.T_decode_per_token_p99) AS T_decode_per_token_p99
FROM config_runs c
LEFT JOIN from_samples st ON st.config_run_id = c.config_run_id
LEFT JOIN repeats r ON r.config_run_id = c.config_run_id
LEFT JOIN from_summary su ON su.config_run_id = c.config_run_id;
