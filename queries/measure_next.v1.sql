-- name: measure_next
-- version: 1
-- description: What to measure next: the undecided configs of each hardware and dataset, those
--   whose p_frontier is between 0.1 and 0.9 (config_uncertainty) and those in a budget_lookup
--   `tie`, and what it costs to decide them. `why` says which ('frontier', 'tie' or both); the
--   rival is the config it must be told apart from: its partner in a tie (at the smallest such
--   budget), else the config that dominates it in the most resamples. s_d is the standard
--   deviation of the per-example accuracy differences between the two (the examples both have);
--   n_needed = ((1.96 + 0.8416) * s_d / delta)^2, rounded up, examples to detect an accuracy
--   difference of delta (a paired test, alpha = 0.05 two-sided, power 0.8); n_more = n_needed - n
--   when positive; gpu_hours = n_needed x the config's mean T_total. n_needed is NULL when the two
--   agree on every example (s_d = 0) or there is no rival. Cheapest first.
-- param: delta DOUBLE > 0 AND <= 1 = 0.01 -- the accuracy difference to resolve
-- param: include_repeats BOOLEAN = false
-- uses: config_points, config_resamples, config_uncertainty, budget_lookup
-- returns: hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n, accuracy, latency, p_frontier, why, rival_tier, rival_variant, rival_top_k, rival_blocks, rival_accuracy, s_d, delta, n_needed, n_more, mean_total_ms, gpu_hours, config_run_id

WITH args AS (
    SELECT CAST($delta AS DOUBLE) AS delta, CAST($include_repeats AS BOOLEAN) AS include_repeats
),

-- each config of a tie, with its partner, at the smallest budget where the tie is
ties AS (
    SELECT config_run_id, arg_min(partner, budget) AS partner
    FROM (
        SELECT budget, config_run_id, runner_up_config_run_id AS partner FROM budget_lookup WHERE tie
        UNION ALL
        SELECT budget, runner_up_config_run_id, config_run_id FROM budget_lookup WHERE tie
    )
    GROUP BY config_run_id
),

undecided AS (
    SELECT
        u.*,
        u.p_frontier > 0.1 AND u.p_frontier < 0.9 AS on_the_fence,
        t.partner
    FROM config_uncertainty u
    LEFT JOIN ties t ON t.config_run_id = u.config_run_id
    WHERE (u.p_frontier > 0.1 AND u.p_frontier < 0.9) OR t.partner IS NOT NULL
),

-- for a config on the fence and in no tie: who dominates it in the most resamples (the strict rule)
draws AS (
    SELECT d.*, p.hardware, p.dataset
    FROM config_resamples d
    JOIN config_points p ON p.config_run_id = d.config_run_id
),

dominators AS (
    SELECT u.config_run_id, arg_min(q.config_run_id, struct_pack(times := -q.times, id := q.config_run_id)) AS rival
    FROM undecided u
    JOIN (
        SELECT mine.config_run_id AS target, other.config_run_id, count(*) AS times
        FROM draws mine
        JOIN draws other
            ON other.hardware = mine.hardware AND other.dataset = mine.dataset AND other.r = mine.r
            AND other.config_run_id <> mine.config_run_id
            AND other.accuracy >= mine.accuracy AND other.latency <= mine.latency
            AND (other.accuracy > mine.accuracy OR other.latency < mine.latency)
        WHERE mine.config_run_id IN (SELECT config_run_id FROM undecided WHERE partner IS NULL)
        GROUP BY mine.config_run_id, other.config_run_id
    ) q ON q.target = u.config_run_id
    GROUP BY u.config_run_id
),

rivals AS (
    SELECT u.config_run_id, coalesce(u.partner, d.rival) AS rival
    FROM undecided u
    LEFT JOIN dominators d ON d.config_run_id = u.config_run_id
),

-- per example (its id, else its position in its file, as config_resamples keys it), each config's accuracy
example_accuracy AS (
    SELECT s.config_run_id, coalesce(s.example_id, -1 - s.ordinal) AS example, fsum(s.accuracy ORDER BY s.accuracy) / count(*) AS accuracy
    FROM samples s
    CROSS JOIN args a
    WHERE s.config_run_id IN (SELECT config_run_id FROM rivals UNION SELECT rival FROM rivals)
      AND (a.include_repeats OR NOT s."repeat")
      AND isfinite(s.accuracy)  -- an infinite accuracy (stored as written) is missing, as in config_resamples
    GROUP BY ALL
),

-- the paired differences, each sum in ascending order: the same bits in every run
differences AS (
    SELECT config_run_id, count(*) AS m, fsum(d ORDER BY d) AS s1, fsum(d * d ORDER BY d * d) AS s2
    FROM (
        SELECT v.config_run_id, mine.accuracy - theirs.accuracy AS d
        FROM rivals v
        JOIN example_accuracy mine ON mine.config_run_id = v.config_run_id
        JOIN example_accuracy theirs ON theirs.config_run_id = v.rival AND theirs.example = mine.example
    )
    GROUP BY config_run_id
),

spread AS (
    SELECT config_run_id, CASE WHEN m > 1 THEN sqrt(greatest(s2 - s1 * s1 / m, 0) / (m - 1)) END AS s_d
    FROM differences
),

-- the mean T_total of each undecided config (what a measured example costs), summed in ascending order
cost AS (
    SELECT s.config_run_id, fsum(s.T_total ORDER BY s.T_total) / count(s.T_total) AS mean_total_ms
    FROM samples s
    CROSS JOIN args a
    WHERE s.config_run_id IN (SELECT config_run_id FROM undecided)
      AND (a.include_repeats OR NOT s."repeat")
    GROUP BY s.config_run_id
),

needed AS (
    SELECT
        u.*,
        v.rival,
        sp.s_d,
        a.delta,
        CASE WHEN isfinite(sp.s_d) AND sp.s_d > 0 THEN CAST(ceil(((1.96 + 0.8416) * sp.s_d / a.delta) ^ 2) AS BIGINT) END AS n_needed,
        c.mean_total_ms
    FROM undecided u
    CROSS JOIN args a
    LEFT JOIN rivals v ON v.config_run_id = u.config_run_id
    LEFT JOIN spread sp ON sp.config_run_id = u.config_run_id
    LEFT JOIN cost c ON c.config_run_id = u.config_run_id
)

SELECT
    n.hardware, n.experiment, n.dataset, n.tier, n.variant, n.top_k, n.num_active_blocks, n.n,
    n.accuracy, n.latency, n.p_frontier,
    CASE
        WHEN n.on_the_fence AND n.partner IS NOT NULL THEN 'frontier, tie'
        WHEN n.on_the_fence THEN 'frontier'
        ELSE 'tie'
    END AS why,
    r.tier AS rival_tier, r.variant AS rival_variant, r.top_k AS rival_top_k, r.num_active_blocks AS rival_blocks,
    r.accuracy AS rival_accuracy,
    n.s_d, n.delta, n.n_needed,
    greatest(n.n_needed - n.n, 0) AS n_more,
    n.mean_total_ms,
    n.n_needed * n.mean_total_ms / 3600000 AS gpu_hours,
    n.config_run_id
FROM needed n
LEFT JOIN config_points r ON r.config_run_id = n.rival
ORDER BY
    n.hardware, gpu_hours NULLS LAST, n.dataset, n.experiment,
    CASE n.tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, n.variant,
    n.top_k, n.num_active_blocks, n.config_run_id
