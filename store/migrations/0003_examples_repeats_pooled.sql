-- budgetdb store schema, version 3: samples by example.
-- * sample_records gains `example_id` (metadata.example_id as the samples view showed it) and
--   `repeat`: true for every occurrence of an example in a config run but the first (padding
--   repeats of the multi-GPU sampler), in sample_id order (position in a GPU's share), then rank,
--   file and position in the file. Queries count each example once; the rows all stay.
-- * samples: a 0.0 T_LLM_decode or T_decode_per_token of a one-token answer (output_tokens = 1)
--   is a measurement (no decode step ran), not a missing hook.
-- * config_runs: several non-shard files of one configuration holding different examples are
--   pooled (source 'pooled').
-- * ingest_runs gains files_moved.
-- * Rows whose decision the new rules may change are marked to be read again by the next ingest
--   (size -1, no sha256): files failed for sharing a configuration, and pre-tier files whose
--   variant now comes from the image size in their name or samples rather than max_crops.

ALTER TABLE sample_records ADD COLUMN example_id BIGINT;
-- 'false', not false: DuckLake takes only a literal default, and reads the keyword as an expression
ALTER TABLE sample_records ADD COLUMN "repeat" BOOLEAN DEFAULT 'false';
ALTER TABLE ingest_runs ADD COLUMN files_moved INTEGER;

UPDATE sample_records SET example_id = TRY_CAST(json_extract_string(metadata, '$.example_id') AS BIGINT)
WHERE metadata IS NOT NULL;

UPDATE sample_records AS s SET "repeat" = true
FROM (
    SELECT s.file_id, s.ordinal,
           row_number() OVER (PARTITION BY s.config_run_id, s.example_id
                              ORDER BY s.sample_id NULLS LAST, f.rank NULLS FIRST, f.path, s.ordinal) AS k
    FROM sample_records s
    JOIN file_records f ON f.file_id = s.file_id AND f.status = 'ingested'
    WHERE (s.config_run_id, s.example_id) IN (
        SELECT (config_run_id, example_id) FROM sample_records
        WHERE example_id IS NOT NULL
        GROUP BY config_run_id, example_id HAVING count(*) > 1)
) r
WHERE s.file_id = r.file_id AND s.ordinal = r.ordinal AND r.k > 1;

UPDATE file_records SET size = -1, sha256 = NULL
WHERE (status = 'failed' AND config_run_id IS NOT NULL)
   OR (tier IS NULL AND variant LIKE 'max_crops=%'
       AND (regexp_matches(rel_path, '_(imgsize[0-9]+x[0-9]+|visiontoken[0-9]+)_topk[0-9]+_blocks[0-9]+(_rank[0-9]+)?\.json$', 'i')
            OR list_contains(sample_keys, 'theoretical_image_size')));

CREATE OR REPLACE VIEW samples AS
SELECT
    f.hardware, f.experiment, f.dataset, f.tier, f.variant, f.top_k, f.num_active_blocks,
    s.config_run_id, s.file_id, s.ordinal, s.sample_id,
    s.example_id,
    coalesce(s."repeat", false) AS "repeat",
    s.tier_range,
    s.output_tokens, s.content_tokens, s.ends_with_eos,
    s.actual_image_size, s.actual_num_crops, s.actual_tiling,
    s.target_vision_tokens, s.actual_vision_tokens, s.actual_text_tokens, s.total_sequence_length,
    s.accuracy, s.pred, s.metadata,
    CASE WHEN isnan(s.vision) OR s.vision <= 0 OR s.vision > 3600000 THEN NULL ELSE s.vision END AS T_vision_total,
    CASE WHEN isnan(s.T_LLM_prefill) OR s.T_LLM_prefill <= 0 OR s.T_LLM_prefill > 3600000 THEN NULL ELSE s.T_LLM_prefill END AS T_LLM_prefill,
    CASE WHEN s.T_LLM_decode = 0 AND s.output_tokens = 1 THEN 0.0
         WHEN isnan(s.T_LLM_decode) OR s.T_LLM_decode <= 0 OR s.T_LLM_decode > 3600000 THEN NULL ELSE s.T_LLM_decode END AS T_LLM_decode,
    CASE WHEN isnan(s.T_total) OR s.T_total <= 0 OR s.T_total > 3600000 THEN NULL ELSE s.T_total END AS T_total,
    CASE WHEN s.T_decode_per_token = 0 AND s.output_tokens = 1 THEN 0.0
         WHEN isnan(s.T_decode_per_token) OR s.T_decode_per_token <= 0 OR s.T_decode_per_token > 3600000 THEN NULL ELSE s.T_decode_per_token END AS T_decode_per_token,
    s.T_decode_per_step
FROM (
    -- the oldest files time the vision stage as encoder + projector
    SELECT *, coalesce(
        T_vision_total,
        TRY_CAST(json_extract(extra, '$.T_vision_encoder') AS DOUBLE)
          + TRY_CAST(json_extract(extra, '$.T_projector') AS DOUBLE)
    ) AS vision
    FROM sample_records
) s
JOIN file_records f ON f.file_id = s.file_id AND f.status = 'ingested';

CREATE OR REPLACE VIEW config_runs AS
WITH counted AS (
    SELECT
        config_run_id,
        count(*)                                            AS n_files,
        CAST(sum(n_samples) AS BIGINT)                      AS n_samples,
        count(*) FILTER (WHERE rank IS NULL)                AS n_merged,
        arg_min(file_id, (coalesce(rank, -1), rel_path))    AS summary_file_id
    FROM file_records
    WHERE status = 'ingested'
    GROUP BY config_run_id
)
SELECT
    c.config_run_id,
    f.hardware, f.experiment, f.dataset, f.tier, f.variant, f.top_k, f.num_active_blocks,
    CAST(json_extract(f.summary, '$.tier_range.min_crops') AS BIGINT)      AS tier_min_crops,
    CAST(json_extract(f.summary, '$.tier_range.max_crops') AS BIGINT)      AS tier_max_crops,
    CAST(json_extract(f.summary, '$.max_crops') AS BIGINT)                 AS max_crops,
    CAST(json_extract(f.summary, '$.num_total_blocks') AS BIGINT)          AS num_total_blocks,
    CAST(json_extract(f.summary, '$.active_block_indices') AS BIGINT[])    AS active_block_indices,
    c.n_samples,
    c.n_files,
    CASE WHEN c.n_merged > 1 THEN 'pooled' WHEN c.n_merged = 1 THEN 'merged' ELSE 'shards' END AS source,
    CAST(json_extract(f.summary, '$.num_samples') AS BIGINT)               AS num_samples_written,
    CAST(json_extract(f.summary, '$.accuracy') AS DOUBLE)                  AS accuracy,
    CAST(json_extract(f.summary, '$.accuracy_std') AS DOUBLE)              AS accuracy_std,
    json_extract(f.summary, '$.latency_stats')                             AS latency_stats,
    json_extract(f.summary, '$.aggregate_stats')                           AS aggregate_stats,
    CAST(json_extract(f.summary, '$.selected_crops_mean') AS DOUBLE)       AS selected_crops_mean,
    CAST(json_extract(f.summary, '$.selected_crops_std') AS DOUBLE)        AS selected_crops_std,
    json_extract(f.summary, '$.selected_crops_distribution')               AS selected_crops_distribution,
    CAST(json_extract(f.summary, '$.target_vision_tokens_mean') AS DOUBLE) AS target_vision_tokens_mean,
    CAST(json_extract(f.summary, '$.target_vision_tokens_std') AS DOUBLE)  AS target_vision_tokens_std,
    CAST(json_extract(f.summary, '$.actual_vision_tokens_mean') AS DOUBLE) AS actual_vision_tokens_mean,
    CAST(json_extract(f.summary, '$.actual_vision_tokens_std') AS DOUBLE)  AS actual_vision_tokens_std,
    f.shape,
    f.rel_path AS summary_file
FROM counted c
JOIN file_records f ON f.file_id = c.summary_file_id;
