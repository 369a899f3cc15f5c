-- name: compare_runs
-- version: 1
-- description: The two sides of a comparison and how their config runs match. The baseline side is
--   this store (the default catalog) with hardware, experiment and dataset; the candidate side is the
--   catalog `against` (budgetdb attaches it read-only: another store, a DuckLake snapshot, or this
--   store again) with against_hardware and against_experiment (NULL: the baseline's values) and the
--   same dataset filter. One row per config run with per-sample rows on either side: its side
--   ('baseline', 'candidate'), `cfg`, the number of its config (configs match by dataset, variant (the
--   tier, when there is one), top_k and num_active_blocks; numbered in that order over both sides),
--   `grp`, the number of its dataset, and its labels. A config with two runs on one side (two
--   experiments or two hardware in that side's scope) is an error naming them: narrow that side's
--   scope. `has_samples` is false for a run without per-sample rows (a stored summary only): listed
--   here, never compared (nothing to resample).
-- param: hardware VARCHAR[] = NULL -- the baseline's hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- the baseline's experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, on both sides (NULL = all)
-- param: against_hardware VARCHAR[] = NULL -- the candidate's hardware roots (NULL = as hardware)
-- param: against_experiment VARCHAR[] = NULL -- the candidate's experiment folders (NULL = as experiment)
-- returns: side, cfg, grp, hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n_samples, has_samples, config_run_id

WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])                                                  AS hardware,
        CAST($experiment AS VARCHAR[])                                                AS experiment,
        CAST($dataset AS VARCHAR[])                                                   AS dataset,
        coalesce(CAST($against_hardware AS VARCHAR[]), CAST($hardware AS VARCHAR[]))     AS against_hardware,
        coalesce(CAST($against_experiment AS VARCHAR[]), CAST($experiment AS VARCHAR[])) AS against_experiment
),

baseline AS (
    SELECT 'baseline' AS side, c.hardware, c.experiment, c.dataset, c.tier, c.variant, c.top_k, c.num_active_blocks,
        c.n_samples, c.config_run_id IN (SELECT DISTINCT config_run_id FROM samples) AS has_samples, c.config_run_id
    FROM config_runs c, args a
    WHERE (a.hardware IS NULL OR list_contains(a.hardware, c.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, c.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, c.dataset))
),

candidate AS (
    SELECT 'candidate' AS side, c.hardware, c.experiment, c.dataset, c.tier, c.variant, c.top_k, c.num_active_blocks,
        c.n_samples, c.config_run_id IN (SELECT DISTINCT config_run_id FROM against.samples) AS has_samples, c.config_run_id
    FROM against.config_runs c, args a
    WHERE (a.against_hardware IS NULL OR list_contains(a.against_hardware, c.hardware))
      AND (a.against_experiment IS NULL OR list_contains(a.against_experiment, c.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, c.dataset))
),

both_sides AS (
    SELECT * FROM baseline
    UNION ALL
    SELECT * FROM candidate
),

counted AS (
    SELECT
        *,
        count(*) OVER same_config AS runs,
        string_agg(hardware || '/' || CASE WHEN experiment = '' THEN '.' ELSE experiment END, ', ' ORDER BY hardware, experiment)
            OVER same_config AS where_from
    FROM both_sides
    WINDOW same_config AS (PARTITION BY side, dataset, variant, top_k, num_active_blocks)
)

SELECT
    side,
    dense_rank() OVER (
        ORDER BY dataset, CASE tier WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END, variant, top_k, num_active_blocks
    ) AS cfg,
    dense_rank() OVER (ORDER BY dataset) AS grp,
    hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, n_samples, has_samples, config_run_id
FROM counted
WHERE CASE
    WHEN runs = 1 THEN true
    ELSE error(
        'the ' || side || ' side has ' || runs || ' runs of ' || dataset || ' ' || variant || ' top_k=' || top_k
        || ' blocks=' || num_active_blocks || ' (' || where_from || '): narrow it with --'
        || CASE side WHEN 'candidate' THEN 'against-' ELSE '' END || 'hardware or --'
        || CASE side WHEN 'candidate' THEN 'against-' ELSE '' END || 'experiment'
    )
END
ORDER BY cfg, side
