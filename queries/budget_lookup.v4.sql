-- name: budget_lookup
-- version: 4
-- description: The lookup table a budget-aware controller starts from: for each hardware, each
--   budget (its budget_range list, or the `budgets` given) and each dataset in scope, the frontier
--   config of that hardware with the highest accuracy whose latency <= budget, and its slack.
--   NULL config when nothing fits. Of exact duplicates, the first config (tier, top_k, blocks) is shown.
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: per hardware (a budget is met on one GPU), each example counted once.
--   v4: with noise. The runner-up is the next most accurate config that fits; delta_acc = accuracy
--   - runner_up_accuracy, [delta_lo, delta_hi] its 95% paired-bootstrap interval (the same
--   resamples for both, config_resamples), and `tie` is true when that interval holds 0: the two
--   cannot be told apart at this sample size (NULL without a runner-up or resamples). attainment is
--   the share of the chosen config's samples whose latency (latency_stage) is <= budget, with the
--   lower end of its 95% Wilson interval. With attainment_target (e.g. 0.95) the config is instead
--   the most accurate of all the hardware's points of the dataset whose attainment lower bound is
--   >= the target (the runner-up the next one), whatever its latency statistic; NULL: by the
--   latency statistic, as before. runner_up_config_run_id identifies the runner-up. It reads the
--   queries it uses unpinned (the latest version, or the one a run pins: the report pins all).
-- param: budgets DOUBLE[] = NULL -- these budgets in ms, e.g. 170,200,250 (NULL = the budget_range list)
-- param: attainment_target DOUBLE BETWEEN 0 AND 1 = NULL -- pick by the attainment's Wilson lower bound >= this (e.g. 0.95) instead of the latency statistic; NULL: the latency statistic
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total'
-- param: include_repeats BOOLEAN = false
-- uses: config_points, pareto_frontier, budget_range, config_resamples
-- returns: budget, dataset, hardware, experiment, tier, variant, top_k, num_active_blocks, accuracy, latency, slack, config_run_id, runner_up_tier, runner_up_variant, runner_up_top_k, runner_up_blocks, runner_up_accuracy, delta_acc, delta_lo, delta_hi, tie, attainment, attainment_lo, runner_up_config_run_id

WITH args AS (
    SELECT
        CAST($budgets AS DOUBLE[])        AS budgets,
        CAST($attainment_target AS DOUBLE) AS target,
        CAST($latency_stage AS VARCHAR)   AS latency_stage,
        CAST($include_repeats AS BOOLEAN) AS include_repeats,
        1.959963984540054                 AS z  -- the 97.5th percentile of the standard normal: a 95% two-sided interval
),

budget_values AS (
    SELECT DISTINCT r.hardware, unnest(coalesce(a.budgets, r.budgets)) AS budget
    FROM args a, budget_range r
),

-- every hardware's dataset in scope, also one without frontier points
datasets AS (
    SELECT DISTINCT hardware, dataset FROM config_points
),

grid AS (
    SELECT d.hardware, v.budget, d.dataset
    FROM budget_values v
    JOIN datasets d ON d.hardware = v.hardware
    WHERE v.budget IS NOT NULL
),

-- each config's samples, their latency as config_points reads it (the samples view made NaN and 0.0 NULL)
sample_ms AS (
    SELECT
        s.config_run_id,
        CASE a.latency_stage
            WHEN 'T_total' THEN s.T_total
            WHEN 'T_LLM_prefill' THEN s.T_LLM_prefill
            WHEN 'vision_prefill' THEN s.T_vision_total + s.T_LLM_prefill
        END AS ms
    FROM samples s
    CROSS JOIN args a
    WHERE s.config_run_id IN (SELECT config_run_id FROM config_points)
      AND (a.include_repeats OR NOT s."repeat")
),

-- the configs that may be chosen at a budget: without a target, the frontier points that fit;
-- with one, every point the frontier considers (attainment decides below)
fitting AS (
    SELECT g.budget, f.*
    FROM grid g
    CROSS JOIN args a
    JOIN pareto_frontier f ON f.hardware = g.hardware AND f.dataset = g.dataset AND f.latency <= g.budget
    WHERE a.target IS NULL
    UNION ALL
    SELECT g.budget, p.*
    FROM grid g
    CROSS JOIN args a
    JOIN config_points p ON p.hardware = g.hardware AND p.dataset = g.dataset AND p.excluded IS NULL
    WHERE a.target IS NOT NULL
),

ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY hardware, dataset, budget
            ORDER BY accuracy DESC, latency, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id
        ) AS place
    FROM fitting
),

-- attainment where it is needed: the chosen config (no target), every candidate (a target)
attainment_pairs AS (
    SELECT DISTINCT r.budget, r.config_run_id
    FROM ranked r, args a
    WHERE a.target IS NOT NULL OR r.place = 1
),

attained AS (
    SELECT p.budget, p.config_run_id, count(*) FILTER (WHERE m.ms <= p.budget) AS k, count(m.ms) AS n
    FROM attainment_pairs p
    JOIN sample_ms m ON m.config_run_id = p.config_run_id
    GROUP BY p.budget, p.config_run_id
),

-- Wilson's score interval's lower end: (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
wilson AS (
    SELECT
        t.budget, t.config_run_id, t.k / t.n AS attainment,
        (t.k / t.n + a.z ^ 2 / (2 * t.n) - a.z * sqrt(t.k / t.n * (1 - t.k / t.n) / t.n + a.z ^ 2 / (4 * t.n ^ 2)))
            / (1 + a.z ^ 2 / t.n) AS attainment_lo
    FROM attained t, args a
    WHERE t.n > 0
),

-- without a target: the first two that fit; with one: the first two whose lower bound reaches it
chosen AS (
    SELECT r.* EXCLUDE (place), w.attainment, w.attainment_lo, r.place
    FROM ranked r
    CROSS JOIN args a
    LEFT JOIN wilson w ON w.budget = r.budget AND w.config_run_id = r.config_run_id
    WHERE a.target IS NULL AND r.place <= 2
    UNION ALL
    SELECT *
    FROM (
        SELECT
            r.* EXCLUDE (place), w.attainment, w.attainment_lo,
            row_number() OVER (PARTITION BY r.hardware, r.dataset, r.budget ORDER BY r.place) AS place
        FROM ranked r
        CROSS JOIN args a
        JOIN wilson w ON w.budget = r.budget AND w.config_run_id = r.config_run_id
        WHERE a.target IS NOT NULL AND w.attainment_lo >= a.target
    )
    WHERE place <= 2
),

pairs AS (
    SELECT
        c.hardware, c.dataset, c.budget,
        c.experiment, c.tier, c.variant, c.top_k, c.num_active_blocks, c.accuracy, c.latency, c.config_run_id,
        c.attainment, c.attainment_lo,
        u.tier AS runner_up_tier, u.variant AS runner_up_variant, u.top_k AS runner_up_top_k,
        u.num_active_blocks AS runner_up_blocks, u.accuracy AS runner_up_accuracy, u.config_run_id AS runner_up_id
    FROM chosen c
    LEFT JOIN chosen u ON u.hardware = c.hardware AND u.dataset = c.dataset AND u.budget = c.budget AND u.place = 2
    WHERE c.place = 1
),

-- each pair's two configs in every resample, each side taken by its config first (joined on r
-- alone, the two sides would meet every other config's resamples)
chosen_resamples AS (
    SELECT p.hardware, p.dataset, p.budget, c.r, c.accuracy
    FROM pairs p
    JOIN config_resamples c ON c.config_run_id = p.config_run_id
),

runner_up_resamples AS (
    SELECT p.hardware, p.dataset, p.budget, c.r, c.accuracy
    FROM pairs p
    JOIN config_resamples c ON c.config_run_id = p.runner_up_id
),

-- the paired difference in every resample (the same weights for both configs)
deltas AS (
    SELECT d1.hardware, d1.dataset, d1.budget, quantile_cont(d1.accuracy - d2.accuracy, [0.025, 0.975]) AS q
    FROM chosen_resamples d1
    JOIN runner_up_resamples d2 USING (hardware, dataset, budget, r)
    GROUP BY d1.hardware, d1.dataset, d1.budget
)

SELECT
    g.budget, g.dataset,
    g.hardware, p.experiment, p.tier, p.variant, p.top_k, p.num_active_blocks,
    p.accuracy, p.latency,
    g.budget - p.latency AS slack,
    p.config_run_id,
    p.runner_up_tier, p.runner_up_variant, p.runner_up_top_k, p.runner_up_blocks, p.runner_up_accuracy,
    p.accuracy - p.runner_up_accuracy AS delta_acc,
    d.q[1] AS delta_lo,
    d.q[2] AS delta_hi,
    d.q[1] <= 0 AND d.q[2] >= 0 AS tie,
    p.attainment,
    p.attainment_lo,
    p.runner_up_id AS runner_up_config_run_id
FROM grid g
LEFT JOIN pairs p ON p.hardware = g.hardware AND p.dataset = g.dataset AND p.budget = g.budget
LEFT JOIN deltas d ON d.hardware = g.hardware AND d.dataset = g.dataset AND d.budget = g.budget
ORDER BY g.hardware, g.budget, g.dataset
