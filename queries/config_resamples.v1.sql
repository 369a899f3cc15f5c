-- name: config_resamples
-- version: 1
-- description: The bootstrap behind every interval budgetdb prints: for each config run with
--   per-sample rows and each resample r (0 to resamples - 1), its accuracy and its latency statistic
--   (latency_stage, latency_stat, as config_points) with every example weighted by w_r(e) ~
--   Poisson(1), a weight drawn from (seed, r, example_id) alone: every config of a hardware and
--   dataset sees the same resample (paired), and the same store and options the same weights.
--   accuracy or latency is NULL in a resample that weighs all of the run's values 0; `n` is the
--   run's samples with a valid latency. Padding repeats count once (unless include_repeats); a
--   sample without an example_id is keyed by its position in its file; an infinite accuracy (stored
--   as written) is missing here, as NaN is (its config's mean in config_points is infinite). This SQL selects the
--   samples; the numpy step config_resamples.v1.py (its own sha256) computes the rows, exactly
--   (integer sums): the same bits in every run.
-- param: resamples INTEGER BETWEEN 0 AND 20000 = 1000 -- bootstrap resamples (0: none, no rows)
-- param: seed INTEGER BETWEEN 0 AND 2147483647 = 0 -- seed of the resampling weights
-- param: latency_stage VARCHAR IN ('T_total', 'T_LLM_prefill', 'vision_prefill') = 'T_total'
-- param: include_repeats BOOLEAN = false
-- numpy: config_resamples.v1.py
-- uses: config_points
-- returns: config_run_id, r, accuracy, latency, n

WITH args AS (
    SELECT
        CAST($latency_stage AS VARCHAR)   AS latency_stage,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

-- the runs with per-sample rows, numbered by hardware and dataset: the step resamples each group's examples
runs AS (
    SELECT config_run_id, dense_rank() OVER (ORDER BY hardware, dataset) AS grp
    FROM config_points
    WHERE latency_source = 'samples'
)

-- one row per sample: NaN where a value is missing (the samples view already made NaN, 0.0 and
-- implausible latencies NULL), as config_points reads them
SELECT
    r.grp,
    s.config_run_id,
    coalesce(s.example_id, -1 - s.ordinal) AS example,
    coalesce(CASE WHEN isfinite(s.accuracy) THEN s.accuracy END, CAST('NaN' AS DOUBLE)) AS accuracy,
    coalesce(
        CASE a.latency_stage
            WHEN 'T_total' THEN s.T_total
            WHEN 'T_LLM_prefill' THEN s.T_LLM_prefill
            WHEN 'vision_prefill' THEN s.T_vision_total + s.T_LLM_prefill
        END,
        CAST('NaN' AS DOUBLE)
    ) AS ms
FROM samples s
JOIN runs r ON r.config_run_id = s.config_run_id
CROSS JOIN args a
WHERE a.include_repeats OR NOT s."repeat"
