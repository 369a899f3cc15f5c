-- name: compare_resamples
-- version: 1
-- description: The bootstrap behind a comparison's intervals: for each config run of both sides
--   (compare_runs) its point (r = -1: every example weighed once) and, for each resample r (0 to
--   resamples - 1), its accuracy and latency statistic (latency_stage, latency_stat) with every example
--   weighted by w_r(e) ~ Poisson(1), config_resamples' weights from (seed, r, example_id). A config
--   measured on the same examples on both sides (the same example_ids) is paired (`paired` 1): an
--   example weighs the same on both sides; any other config's candidate run is resampled
--   independently (the weights of seed + 2^31). `n` is the run's samples with a valid latency.
--   Padding repeats count once (unless include_repeats); a sample without an example_id is keyed by
--   its position in its file (and its config is not paired). This SQL selects the samples of both
--   sides (the candidate's from the catalog `against`); the numpy step compare_resamples.v1.py (its
--   own sha256) computes the rows, exactly: the same bits in every run.
-- param: resamples INTEGER BETWEEN 0 AND 20000 = 1000 -- bootstrap resamples (0: the points only)
-- param: seed INTEGER BETWEEN 0 AND 2147483647 = 0 -- seed of the resampling weights
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total' -- which latency; vision_prefill = T_vision_total + T_LLM_prefill per sample
-- param: latency_stat VARCHAR IN ('mean', 'p50', 'p95', 'p99') = 'mean' -- which statistic of it per config run
-- param: include_repeats BOOLEAN = false -- also count padding repeats (samples.repeat)
-- numpy: compare_resamples.v1.py
-- uses: compare_runs
-- returns: cfg, side, r, accuracy, latency, n, paired

WITH args AS (
    SELECT
        CAST($latency_stage AS VARCHAR)   AS latency_stage,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

picked AS (
    SELECT 0 AS side, s.config_run_id, s.example_id, s.ordinal, s.accuracy, s.T_total, s.T_LLM_prefill, s.T_vision_total, s."repeat"
    FROM samples s
    WHERE s.config_run_id IN (SELECT config_run_id FROM compare_runs WHERE side = 'baseline' AND has_samples)
    UNION ALL
    SELECT 1 AS side, s.config_run_id, s.example_id, s.ordinal, s.accuracy, s.T_total, s.T_LLM_prefill, s.T_vision_total, s."repeat"
    FROM against.samples s
    WHERE s.config_run_id IN (SELECT config_run_id FROM compare_runs WHERE side = 'candidate' AND has_samples)
)

-- one row per sample: NaN where a value is missing (the samples view already made NaN, 0.0 and
-- implausible latencies NULL), as config_points reads them
SELECT
    p.side,
    r.cfg,
    r.grp,
    coalesce(p.example_id, -1 - p.ordinal) AS example,
    CAST(p.example_id IS NOT NULL AS INTEGER) AS has_id,
    coalesce(CASE WHEN isnan(p.accuracy) THEN NULL ELSE p.accuracy END, CAST('NaN' AS DOUBLE)) AS accuracy,
    coalesce(
        CASE a.latency_stage
            WHEN 'T_total' THEN p.T_total
            WHEN 'T_LLM_prefill' THEN p.T_LLM_prefill
            WHEN 'vision_prefill' THEN p.T_vision_total + p.T_LLM_prefill
        END,
        CAST('NaN' AS DOUBLE)
    ) AS ms
FROM picked p
JOIN compare_runs r ON r.config_run_id = p.config_run_id AND r.side = CASE p.side WHEN 0 THEN 'baseline' ELSE 'candidate' END
CROSS JOIN args a
WHERE a.include_repeats OR NOT p."repeat"
ORDER BY r.cfg, p.side
