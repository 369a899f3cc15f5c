-- budgetdb store schema, version 2: implausible stage latencies are missing in `samples`.
-- A stage latency that is negative (including -Infinity), over one hour (3,600,000 ms,
-- including +Infinity), NaN or exactly 0.0 is NULL in the view, as a missing value is;
-- sample_records keeps it exactly as written, and ingest warns about the file that holds it.

CREATE OR REPLACE VIEW samples AS
SELECT
    f.hardware, f.experiment, f.dataset, f.tier, f.variant, f.top_k, f.num_active_blocks,
    s.config_run_id, s.file_id, s.ordinal, s.sample_id,
    TRY_CAST(json_extract_string(s.metadata, '$.example_id') AS BIGINT) AS example_id,
    s.tier_range,
    s.output_tokens, s.content_tokens, s.ends_with_eos,
    s.actual_image_size, s.actual_num_crops, s.actual_tiling,
    s.target_vision_tokens, s.actual_vision_tokens, s.actual_text_tokens, s.total_sequence_length,
    s.accuracy, s.pred, s.metadata,
    CASE WHEN isnan(s.vision) OR s.vision <= 0 OR s.vision > 3600000 THEN NULL ELSE s.vision END AS T_vision_total,
    CASE WHEN isnan(s.T_LLM_prefill) OR s.T_LLM_prefill <= 0 OR s.T_LLM_prefill > 3600000 THEN NULL ELSE s.T_LLM_prefill END AS T_LLM_prefill,
    CASE WHEN isnan(s.T_LLM_decode) OR s.T_LLM_decode <= 0 OR s.T_LLM_decode > 3600000 THEN NULL ELSE s.T_LLM_decode END AS T_LLM_decode,
    CASE WHEN isnan(s.T_total) OR s.T_total <= 0 OR s.T_total > 3600000 THEN NULL ELSE s.T_total END AS T_total,
    CASE WHEN isnan(s.T_decode_per_token) OR s.T_decode_per_token <= 0 OR s.T_decode_per_token > 3600000 THEN NULL ELSE s.T_decode_per_token END AS T_decode_per_token,
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
