-- name: compare_lookup
-- version: 1
-- description: The budget lookup on both sides of a comparison: per dataset and budget (the union of
--   both sides' budget lists of compare_summary, or `budgets`), the config each side chooses (the
--   most accurate of its frontier points whose latency fits the budget, as budget_lookup: of equal
--   accuracy the faster, then the config order) and whether the choice changed. A side with no
--   point that fits chooses nothing (NULL).
-- param: budgets DOUBLE[] = NULL -- these budgets in ms, e.g. 170,200,250 (NULL = both sides' budget lists)
-- uses: compare_configs, compare_summary
-- returns: dataset, budget, baseline_tier, baseline_variant, baseline_top_k, baseline_blocks, baseline_accuracy, baseline_latency, candidate_tier, candidate_variant, candidate_top_k, candidate_blocks, candidate_accuracy, candidate_latency, changed

WITH wanted AS (
    SELECT DISTINCT s.dataset, unnest(
        coalesce(CAST($budgets AS DOUBLE[]), list_concat(coalesce(s.baseline_budgets, []), coalesce(s.candidate_budgets, [])))
    ) AS budget
    FROM compare_summary s
    WHERE s.dataset IS NOT NULL
),

frontier AS (
    SELECT 'baseline' AS side, cfg, dataset, tier, variant, top_k, num_active_blocks, acc_baseline AS accuracy, lat_baseline AS latency
    FROM compare_configs WHERE on_frontier_baseline
    UNION ALL
    SELECT 'candidate' AS side, cfg, dataset, tier, variant, top_k, num_active_blocks, acc_candidate, lat_candidate
    FROM compare_configs WHERE on_frontier_candidate
),

chosen AS (
    SELECT
        w.dataset,
        w.budget,
        f.side,
        first(struct_pack(f.cfg, f.tier, f.variant, f.top_k, f.num_active_blocks, f.accuracy, f.latency)
            ORDER BY f.accuracy DESC, f.latency, f.cfg) AS pick
    FROM wanted w
    JOIN frontier f ON f.dataset = w.dataset AND f.latency <= w.budget
    GROUP BY w.dataset, w.budget, f.side
)

SELECT
    w.dataset,
    w.budget,
    b.pick.tier AS baseline_tier, b.pick.variant AS baseline_variant, b.pick.top_k AS baseline_top_k,
    b.pick.num_active_blocks AS baseline_blocks, b.pick.accuracy AS baseline_accuracy, b.pick.latency AS baseline_latency,
    c.pick.tier AS candidate_tier, c.pick.variant AS candidate_variant, c.pick.top_k AS candidate_top_k,
    c.pick.num_active_blocks AS candidate_blocks, c.pick.accuracy AS candidate_accuracy, c.pick.latency AS candidate_latency,
    b.pick.cfg IS DISTINCT FROM c.pick.cfg AS changed
FROM wanted w
LEFT JOIN chosen b ON b.dataset = w.dataset AND b.budget = w.budget AND b.side = 'baseline'
LEFT JOIN chosen c ON c.dataset = w.dataset AND c.budget = w.budget AND c.side = 'candidate'
ORDER BY w.dataset, w.budget
