-- name: prefill_stats
-- version: 3
-- description: Pooled T_LLM_prefill over every sample in scope (the seed's blockquote), one row per
--   hardware (latencies of two GPUs are never pooled): how many samples have a valid prefill (not
--   NULL, NaN or 0.0) and how many are missing it; min, p5/p25/p50/p75/p95 (quantile_cont: linear
--   interpolation, numpy's default), max, mean and population std (numpy's default ddof=0), in ms;
--   and the padding repeats left out. One row of NULLs (hardware NULL) when nothing is in scope.
--   v2: per hardware; each example counted once (padding repeats left out unless include_repeats).
--   v3: each percentile's distribution-free 95% interval [x(l), x(u)] (p5_lo, p5_hi, ...): the
--   order statistics of 1-based ranks l = F^-1(0.025) and u = F^-1(0.975) + 1, F the CDF of
--   Binomial(n, p); an end is NULL when the sample is too small for it ((1-p)^n > 0.025 for the
--   lower, p^n > 0.025 for the upper: a finite interval needs n >= 6 for p50, 72 for p5 and p95).
--   Everything from one sorted list of each hardware's values (percentiles interpolated as
--   quantile_cont does, the same bits; mean and std summed in that order), so every run gives the same bits.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, n, n_missing, min, p5, p25, p50, p75, p95, max, mean, std, n_repeats, p5_lo, p5_hi, p25_lo, p25_hi, p50_lo, p50_hi, p75_lo, p75_hi, p95_lo, p95_hi

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

-- the samples view already made NaN, 0.0 and implausible latencies NULL
scoped AS (
    SELECT s.hardware, s.T_LLM_prefill AS ms, s."repeat" AND NOT a.include_repeats AS left_out
    FROM samples s, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
),

-- each hardware's valid values, sorted: one sort gives the percentiles, their intervals, min and max
sorted AS (
    SELECT
        hardware,
        count(*) FILTER (WHERE NOT left_out) - count(ms) FILTER (WHERE NOT left_out) AS n_missing,
        count(*) FILTER (WHERE left_out)                                             AS n_repeats,
        coalesce(list_sort(list(ms) FILTER (WHERE NOT left_out AND ms IS NOT NULL)), [])  AS s
    FROM scoped
    GROUP BY hardware
),

-- the mean summed in the sorted order (fsum: compensated), the same bits in every run; computed
-- once (three steps below read it, and each would sort again)
pooled AS MATERIALIZED (
    SELECT *, len(s) AS n, CASE WHEN len(s) > 0 THEN list_aggregate(s, 'fsum') / len(s) END AS mean
    FROM sorted
),

probs (i, p) AS (
    VALUES (1, 0.05), (2, 0.25), (3, 0.5), (4, 0.75), (5, 0.95)
),

-- Binomial(n, p) over the ranks k that can matter: n*p +- 12 standard deviations (+12), the mass
-- outside it below 1e-30; all of 0..n for small n. pmf by log-gamma, CDF by a running sum.
binomial AS (
    SELECT
        b.hardware, b.i, b.n, b.k,
        exp(lgamma(b.n + 1) - lgamma(b.k + 1) - lgamma(b.n - b.k + 1) + b.k * ln(b.p) + (b.n - b.k) * ln(1 - b.p)) AS pmf
    FROM (
        SELECT
            d.hardware, q.i, q.p, d.n,
            unnest(range(
                CAST(greatest(0, floor(d.n * q.p - 12 * sqrt(d.n * q.p * (1 - q.p)) - 12)) AS BIGINT),
                CAST(least(d.n, ceil(d.n * q.p + 12 * sqrt(d.n * q.p * (1 - q.p)) + 12)) AS BIGINT) + 1
            )) AS k
        FROM pooled d, probs q
        WHERE d.n > 0
    ) b
),

cdf AS (
    SELECT hardware, i, n, k, sum(pmf) OVER (PARTITION BY hardware, i ORDER BY k) AS f
    FROM binomial
),

-- l = F^-1(0.025) and u = F^-1(0.975) + 1, 1-based ranks; l = 0 or u = n + 1: that end is undefined
ranks AS (
    SELECT hardware, i, n, min(k) FILTER (WHERE f >= 0.025) AS l, min(k) FILTER (WHERE f >= 0.975) + 1 AS u
    FROM cdf
    GROUP BY hardware, i, n
),

-- one row per hardware: the ranks as lists in the order of probs
rank_lists AS (
    SELECT hardware, list(l ORDER BY i) AS l, list(u ORDER BY i) AS u
    FROM ranks
    GROUP BY hardware
),

-- quantile_cont's interpolation as DuckDB computes it: RN = (n - 1) * p (a DOUBLE), lo * (1 - d) + hi * d
ends AS (
    SELECT
        p.hardware,
        list_transform(
            [0.05, 0.25, 0.5, 0.75, 0.95],
            lambda q: p.s[CAST(floor((p.n - 1) * CAST(q AS DOUBLE)) AS BIGINT) + 1] * (1 - ((p.n - 1) * CAST(q AS DOUBLE) - floor((p.n - 1) * CAST(q AS DOUBLE))))
                + p.s[CAST(ceil((p.n - 1) * CAST(q AS DOUBLE)) AS BIGINT) + 1] * ((p.n - 1) * CAST(q AS DOUBLE) - floor((p.n - 1) * CAST(q AS DOUBLE)))
        ) AS q,
        list_transform(r.l, lambda l: CASE WHEN l >= 1 THEN p.s[l] END)    AS lo,
        list_transform(r.u, lambda u: CASE WHEN u <= p.n THEN p.s[u] END)  AS hi
    FROM pooled p
    JOIN rank_lists r ON r.hardware = p.hardware
)

SELECT
    p.hardware, p.n, p.n_missing,
    CASE WHEN p.n > 0 THEN p.s[1] END AS min,
    e.q[1] AS p5, e.q[2] AS p25, e.q[3] AS p50, e.q[4] AS p75, e.q[5] AS p95,
    CASE WHEN p.n > 0 THEN p.s[p.n] END AS max,
    p.mean,
    CASE WHEN p.n > 0 THEN sqrt(list_aggregate(list_transform(p.s, lambda x: (x - p.mean) ^ 2), 'fsum') / p.n) END AS std,
    p.n_repeats,
    e.lo[1] AS p5_lo, e.hi[1] AS p5_hi,
    e.lo[2] AS p25_lo, e.hi[2] AS p25_hi,
    e.lo[3] AS p50_lo, e.hi[3] AS p50_hi,
    e.lo[4] AS p75_lo, e.hi[4] AS p75_hi,
    e.lo[5] AS p95_lo, e.hi[5] AS p95_hi
FROM pooled p
LEFT JOIN ends e ON e.hardware = p.hardware
UNION ALL
SELECT NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM pooled)
ORDER BY hardware
