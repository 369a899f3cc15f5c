-- name: budget_lookup
-- version: 3
-- description: The lookup table a budget-aware controller starts from: for each hardware, each
--   budget (its budget_range list, or the `budgets` given) and each dataset in scope, the frontier
--   config of that hardware with the highest accuracy whose latency <= budget, and its slack.
--   NULL config when nothing fits. Of exact duplicates, the first config (tier, top_k, blocks) is shown.
--   v2: the same on config_points@v2 (exact ties between equal mean accuracies).
--   v3: per hardware (a budget is met on one GPU), each example counted once.
--   It reads the queries it uses unpinned (the latest version, or the one a run pins: the report pins all).
-- param: budgets DOUBLE[] = NULL -- these budgets in ms, e.g. 170,200,250 (NULL = the budget_range list)
-- uses: config_points, pareto_frontier, budget_range
-- returns: budget, dataset, hardware, experiment, tier, variant, top_k, num_active_blocks, accuracy, latency, slack, config_run_id

WITH args AS (
    SELECT CAST($budgets AS DOUBLE[]) AS budgets
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

-- along a frontier accuracy rises with latency, so the most accurate point within a budget is
-- the slowest one that fits: an ASOF join. Exact duplicates collapse to their first config.
choices AS (
    SELECT *
    FROM pareto_frontier
    QUALIFY row_number() OVER (PARTITION BY hardware, dataset, latency ORDER BY CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks, hardware, experiment, config_run_id) = 1
)

SELECT
    g.budget, g.dataset,
    g.hardware, c.experiment, c.tier, c.variant, c.top_k, c.num_active_blocks,
    c.accuracy, c.latency,
    g.budget - c.latency AS slack,
    c.config_run_id
FROM grid g
ASOF LEFT JOIN choices c ON g.hardware = c.hardware AND g.dataset = c.dataset AND g.budget >= c.latency
ORDER BY g.hardware, g.budget, g.dataset
