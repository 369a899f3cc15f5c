-- name: latency_stats
-- version: 3
-- description: Per config run and stage (T_vision_total, T_LLM_prefill, T_LLM_decode, T_total,
--   T_decode_per_token): how many samples have a valid value, and its mean, p50, p95 and p99
--   in ms (quantile_cont). A run without per-sample rows shows its file's stored summary
--   (latency_stats, else aggregate_stats; n NULL) and says so in `source`.
--   v2: each example counted once (padding repeats left out unless include_repeats); a one-token
--   answer's 0.0 decode is a value (the samples view, schema 3).
--   v3: each percentile's distribution-free 95% interval (p50_lo, p50_hi, p95_lo, ...): the order
--   statistics of 1-based ranks l = F^-1(0.025) and u = F^-1(0.975) + 1, F the CDF of
--   Binomial(n, p); an end is NULL when n is too small for it (a finite interval needs n >= 6 for
--   p50, 72 for p95, 368 for p99) and for summary rows. The mean is summed in sorted order, so
--   every run gives the same bits.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, stage, n, mean, p50, p50_lo, p50_hi, p95, p95_lo, p95_hi, p99, p99_lo, p99_hi, source, config_run_id

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

-- each run's and stage's valid values, sorted: one sort gives the percentiles and their intervals;
-- computed once (two steps below read it)
sorted AS MATERIALIZED (
    SELECT config_run_id, stage, list_sort(list(ms)) AS s
    FROM sample_values
    WHERE ms IS NOT NULL
    GROUP BY config_run_id, stage
),

probs (i, p) AS (
    VALUES (1, 0.5), (2, 0.95), (3, 0.99)
),

-- Binomial(n, p) over the ranks k that can matter (n*p +- 12 standard deviations, +12; all of 0..n
-- for small n), once per sample size: pmf by log-gamma, CDF by a running sum
binomial AS (
    SELECT
        b.n, b.i, b.k,
        exp(lgamma(b.n + 1) - lgamma(b.k + 1) - lgamma(b.n - b.k + 1) + b.k * ln(b.p) + (b.n - b.k) * ln(1 - b.p)) AS pmf
    FROM (
        SELECT
            d.n, q.i, q.p,
            unnest(range(
                CAST(greatest(0, floor(d.n * q.p - 12 * sqrt(d.n * q.p * (1 - q.p)) - 12)) AS BIGINT),
                CAST(least(d.n, ceil(d.n * q.p + 12 * sqrt(d.n * q.p * (1 - q.p)) + 12)) AS BIGINT) + 1
            )) AS k
        FROM (SELECT DISTINCT len(s) AS n FROM sorted) d, probs q
    ) b
),

-- l = F^-1(0.025) and u = F^-1(0.975) + 1, 1-based ranks (l = 0 or u = n + 1: that end is undefined)
ranks AS (
    SELECT n, list(l ORDER BY i) AS l, list(u ORDER BY i) AS u
    FROM (
        SELECT n, i, min(k) FILTER (WHERE f >= 0.025) AS l, min(k) FILTER (WHERE f >= 0.975) + 1 AS u
        FROM (SELECT n, i, k, sum(pmf) OVER (PARTITION BY n, i ORDER BY k) AS f FROM binomial)
        GROUP BY n, i
    )
    GROUP BY n
),

-- quantile_cont's interpolation as DuckDB computes it (RN = (n - 1) * p as a DOUBLE, lo * (1 - d) + hi * d),
-- the order statistics at the ranks, and the mean summed in sorted order (fsum): the same bits in every run
from_samples AS (
    SELECT
        o.config_run_id,
        o.stage,
        len(o.s) AS n,
        list_aggregate(o.s, 'fsum') / len(o.s) AS mean,
        list_transform(
            [0.5, 0.95, 0.99],
            lambda q: o.s[CAST(floor((len(o.s) - 1) * CAST(q AS DOUBLE)) AS BIGINT) + 1] * (1 - ((len(o.s) - 1) * CAST(q AS DOUBLE) - floor((len(o.s) - 1) * CAST(q AS DOUBLE))))
                + o.s[CAST(ceil((len(o.s) - 1) * CAST(q AS DOUBLE)) AS BIGINT) + 1] * ((len(o.s) - 1) * CAST(q AS DOUBLE) - floor((len(o.s) - 1) * CAST(q AS DOUBLE)))
        ) AS q,
        list_transform(r.l, lambda l: CASE WHEN l >= 1 THEN o.s[l] END)       AS lo,
        list_transform(r.u, lambda u: CASE WHEN u <= len(o.s) THEN o.s[u] END) AS hi
    FROM sorted o
    JOIN ranks r ON r.n = len(o.s)
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
    fs.lo[1]                                                                    AS p50_lo,
    fs.hi[1]                                                                    AS p50_hi,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.q[2] ELSE su.p95 END          AS p95,
    fs.lo[2]                                                                    AS p95_lo,
    fs.hi[2]                                                                    AS p95_hi,
    CASE WHEN w.config_run_id IS NOT NULL THEN fs.q[3] ELSE su.p99 END          AS p99,
    fs.lo[3]                                                                    AS p99_lo,
    fs.hi[3]                                                                    AS p99_hi,
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
