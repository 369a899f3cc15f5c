-- name: budget_range
-- version: 3
-- description: The recommended latency budget range, one row per hardware. Over the per-dataset frontier
--   ranges: the smallest minimum and largest maximum with their datasets, mean and median of
--   the minimums and of the maximums; lower = ceil(min / step) * step, upper = ceil(max / step) * step;
--   the budget list (lower, every multiple of coarse_step strictly between, upper); numpy's
--   linspace(lower, upper, num); and the prefill-only range over the pooled T_LLM_prefill:
--   floor(p5 / step) * step, ceil(p95 / step) * step, ceil(p95 / coarse_step) * coarse_step.
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: one row per hardware in scope (two GPUs' latencies are never pooled; one row of NULLs
--   when nothing is in scope), each example counted once.
--   It reads the queries it uses unpinned (the latest version, or the one a run pins: the report pins all).
-- param: step DOUBLE BETWEEN 0.001 AND 3600000 = 10 -- rounding step of the range bounds (ms)
-- param: coarse_step DOUBLE BETWEEN 0.001 AND 3600000 = 50 -- the budget list holds every multiple of this strictly inside the range (ms)
-- param: num INTEGER BETWEEN 0 AND 1000 = 10 -- how many evenly spaced budgets `linspace` holds
-- uses: frontier_summary, prefill_stats
-- returns: hardware, min_latency, min_dataset, max_latency, max_dataset, mean_min, mean_max, median_min, median_max, lower, upper, budgets, linspace, prefill_lower, prefill_upper, prefill_safe_upper

WITH args AS (
    SELECT
        CASE WHEN $step > 0 THEN CAST($step AS DOUBLE) ELSE error('step must be > 0') END AS step,
        CASE WHEN $coarse_step > 0 THEN CAST($coarse_step AS DOUBLE) ELSE error('coarse_step must be > 0') END AS coarse_step,
        CAST($num AS INTEGER) AS num
),

-- a dataset's latency range: [latency of its lowest-accuracy, of its highest-accuracy frontier point]
ranges AS (
    SELECT hardware, dataset, lo_latency AS range_min, hi_latency AS range_max
    FROM frontier_summary
    WHERE n_points > 0
),

-- every hardware in scope has a row (NULL when nothing is: prefill_stats' row of NULLs)
hardware_in_scope AS (
    SELECT hardware FROM frontier_summary
    UNION
    SELECT hardware FROM prefill_stats
),

across AS (
    SELECT
        h.hardware,
        min(r.range_min)                                    AS min_latency,
        first(r.dataset ORDER BY r.range_min, r.dataset)    AS min_dataset,
        max(r.range_max)                                    AS max_latency,
        first(r.dataset ORDER BY r.range_max DESC, r.dataset) AS max_dataset,
        avg(r.range_min)                                    AS mean_min,
        avg(r.range_max)                                    AS mean_max,
        quantile_cont(r.range_min, 0.5)                     AS median_min,
        quantile_cont(r.range_max, 0.5)                     AS median_max
    FROM hardware_in_scope h
    LEFT JOIN ranges r ON r.hardware = h.hardware
    GROUP BY h.hardware
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

-- numpy.linspace: start + i * ((stop - start) / (num - 1)), the last one exactly stop
spaced AS (
    SELECT
        l.*,
        CASE
            WHEN l.lower IS NULL THEN NULL
            WHEN a.num = 1 THEN [l.lower]
            ELSE list_transform(
                range(a.num),
                lambda i: CASE WHEN i = a.num - 1 THEN l.upper ELSE l.lower + i * ((l.upper - l.lower) / (a.num - 1)) END
            )
        END AS linspace
    FROM budget_list l, args a
)

SELECT
    s.hardware,
    s.min_latency, s.min_dataset, s.max_latency, s.max_dataset,
    s.mean_min, s.mean_max, s.median_min, s.median_max,
    s.lower, s.upper, s.budgets, s.linspace,
    round(floor(round(p.p5 / a.step, 9)) * a.step, 9)                  AS prefill_lower,
    round(ceil(round(p.p95 / a.step, 9)) * a.step, 9)                  AS prefill_upper,
    round(ceil(round(p.p95 / a.coarse_step, 9)) * a.coarse_step, 9)    AS prefill_safe_upper
FROM spaced s
CROSS JOIN args a
LEFT JOIN prefill_stats p ON p.hardware IS NOT DISTINCT FROM s.hardware
ORDER BY s.hardware
