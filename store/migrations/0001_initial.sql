-- budgetdb store schema, version 1.
-- Tables hold values exactly as written in the result files; the views are the
-- documented surface for analysts (docs/schema.md). No sequences, keys or
-- indexes: ids are computed by budgetdb, so the same DDL also runs on DuckLake.

CREATE TABLE ingest_runs (
    run_id            BIGINT NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP,
    paths             VARCHAR[] NOT NULL,
    budgetdb_version  VARCHAR NOT NULL,
    files_new         INTEGER,
    files_updated     INTEGER,
    files_unchanged   INTEGER,
    files_superseded  INTEGER,
    files_skipped     INTEGER,
    files_failed      INTEGER,
    files_vanished    INTEGER,
    files_pruned      INTEGER,
    samples_added     BIGINT,
    nan_latencies     BIGINT,
    zero_latencies    BIGINT
);

CREATE TABLE file_records (
    file_id           BIGINT NOT NULL,
    path              VARCHAR NOT NULL,
    root              VARCHAR NOT NULL,
    rel_path          VARCHAR NOT NULL,
    size              BIGINT NOT NULL,
    mtime             DOUBLE NOT NULL,
    sha256            VARCHAR,
    shape             VARCHAR,
    status            VARCHAR NOT NULL,
    reason            VARCHAR,
    warnings          VARCHAR[],
    hardware          VARCHAR NOT NULL,
    experiment        VARCHAR NOT NULL,
    dataset           VARCHAR NOT NULL,
    tier              VARCHAR,
    variant           VARCHAR,
    top_k             INTEGER,
    num_active_blocks INTEGER,
    rank              INTEGER,
    config_run_id     BIGINT,
    n_samples         INTEGER,
    sample_keys       VARCHAR[],
    summary           JSON,
    ingested_at       TIMESTAMP NOT NULL,
    run_id            BIGINT NOT NULL
);

CREATE TABLE sample_records (
    file_id               BIGINT NOT NULL,
    config_run_id         BIGINT NOT NULL,
    ordinal               INTEGER NOT NULL,
    sample_id             BIGINT,
    tier                  VARCHAR,
    tier_range            JSON,
    top_k                 BIGINT,
    num_active_blocks     BIGINT,
    output_tokens         BIGINT,
    content_tokens        BIGINT,
    ends_with_eos         BOOLEAN,
    actual_image_size     BIGINT[],
    actual_num_crops      BIGINT,
    actual_tiling         BIGINT[],
    target_vision_tokens  BIGINT,
    actual_vision_tokens  BIGINT,
    actual_text_tokens    BIGINT,
    total_sequence_length BIGINT,
    accuracy              DOUBLE,
    pred                  VARCHAR,
    metadata              JSON,
    T_vision_total        DOUBLE,
    T_LLM_prefill         DOUBLE,
    T_LLM_decode          DOUBLE,
    T_total               DOUBLE,
    T_decode_per_token    DOUBLE,
    T_decode_per_step     DOUBLE[][],
    absent                VARCHAR[],
    extra                 JSON
);

CREATE VIEW files AS
SELECT
    file_id, rel_path, path, root, size, mtime, sha256, shape, status, reason, warnings,
    hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, rank,
    config_run_id, n_samples, ingested_at
FROM file_records;

CREATE VIEW config_runs AS
WITH counted AS (
    SELECT
        config_run_id,
        count(*)                              AS n_files,
        CAST(sum(n_samples) AS BIGINT)        AS n_samples,
        bool_or(rank IS NULL)                 AS has_merged,
        arg_min(file_id, coalesce(rank, -1))  AS summary_file_id
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
    CASE WHEN c.has_merged THEN 'merged' ELSE 'shards' END                 AS source,
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

CREATE VIEW samples AS
SELECT
    f.hardware, f.experiment, f.dataset, f.tier, f.variant, f.top_k, f.num_active_blocks,
    s.config_run_id, s.file_id, s.ordinal, s.sample_id,
    TRY_CAST(json_extract_string(s.metadata, '$.example_id') AS BIGINT) AS example_id,
    s.tier_range,
    s.output_tokens, s.content_tokens, s.ends_with_eos,
    s.actual_image_size, s.actual_num_crops, s.actual_tiling,
    s.target_vision_tokens, s.actual_vision_tokens, s.actual_text_tokens, s.total_sequence_length,
    s.accuracy, s.pred, s.metadata,
    CASE WHEN isnan(s.vision) OR s.vision = 0 THEN NULL ELSE s.vision END AS T_vision_total,
    CASE WHEN isnan(s.T_LLM_prefill) OR s.T_LLM_prefill = 0 THEN NULL ELSE s.T_LLM_prefill END AS T_LLM_prefill,
    CASE WHEN isnan(s.T_LLM_decode) OR s.T_LLM_decode = 0 THEN NULL ELSE s.T_LLM_decode END AS T_LLM_decode,
    CASE WHEN isnan(s.T_total) OR s.T_total = 0 THEN NULL ELSE s.T_total END AS T_total,
    CASE WHEN isnan(s.T_decode_per_token) OR s.T_decode_per_token = 0 THEN NULL ELSE s.T_decode_per_token END AS T_decode_per_token,
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
