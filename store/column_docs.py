"""What every column of the public views means, with its unit: applied as COMMENT ON after every
schema upgrade, so `DESCRIBE`, `duckdb_columns()`, the DuckDB CLI and any SQL client show it.
docs/schema.md says the same at more length (tests/test_column_docs.py keeps the two in step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_CONFIG = {
    "hardware": "GPU, from the core_exp_<hw> folder (else --hardware, else unknown)",
    "experiment": "folders between the hardware root and the dataset folder, /-joined; '' if none",
    "dataset": "the file's folder name, e.g. text-vqa",
    "tier": "vision-token tier low/medium/high from the file body; NULL for pre-tier files",
    "variant": "the vision configuration: the tier, else imgsize<H>x<W> / visiontoken<T> / max_crops=N",
    "top_k": "MoE experts per token (file body)",
    "num_active_blocks": "active transformer blocks (file body)",
    "config_run_id": "the config run: (hardware, experiment, dataset, variant, top_k, num_active_blocks)",
}


def _stage(stage: str, what: str) -> dict[str, str]:
    return {
        f"{stage}_n": f"{what}: samples with a valid value (NULL: from the file summary)",
        f"{stage}_mean": f"{what}: mean, ms",
        **{f"{stage}_{q}": f"{what}: {q} (quantile_cont, numpy's default), ms" for q in ("p50", "p95", "p99")},
    }


VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "samples": (
        "One row per stored sample (per_sample_results element) of every ingested file; padding repeats kept, marked",
        {
            **_CONFIG,
            "file_id": "the file the sample came from (see files)",
            "ordinal": "0-based position in that file's per_sample_results",
            "sample_id": "as written: a batch index within one GPU's share, not unique in a merged file",
            "example_id": "metadata.example_id as an integer: stable across configurations, the join key for the same sample",
            "repeat": "a padding repeat: the example was already measured in this config run; queries leave these out",
            "tier_range": "the sample's copy of {min_crops, max_crops}, as written",
            "output_tokens": "generated tokens, EOS included",
            "content_tokens": "generated tokens, EOS excluded",
            "ends_with_eos": "the answer ended with EOS",
            "actual_image_size": "[H, W] pixels, or NULL",
            "actual_num_crops": "image crops the vision encoder saw",
            "actual_tiling": "[rows, cols] of the crops, or NULL",
            "target_vision_tokens": "vision tokens the tier aimed at",
            "actual_vision_tokens": "vision tokens the LLM got",
            "actual_text_tokens": "text tokens of the prompt",
            "total_sequence_length": "prompt tokens, vision and text",
            "accuracy": "per-sample score (VQA score, ANLS, EM, ...), usually 0..1",
            "pred": "the model's answer",
            "metadata": "the sample's metadata object as written (question, answers, example_id...)",
            "T_vision_total": "vision encoder + projector, ms; NULL when missing (NaN, 0.0, negative, over 1 h)",
            "T_LLM_prefill": "LLM prefill, ms; NULL when missing",
            "T_LLM_decode": "all decode steps, ms; 0.0 for a one-token answer; NULL when missing",
            "T_total": "wall time of the generate call, ms; NULL when missing",
            "T_decode_per_token": "decode time per generated token, ms; 0.0 for a one-token answer; NULL when missing",
            "T_decode_per_step": "[decode position][run] ms, inner lists possibly ragged",
        },
    ),
    "config_runs": (
        "One row per config run, with its file's stored summary (the merged file, or the first pooled shard or file)",
        {
            **_CONFIG,
            "tier_min_crops": "tier_range.min_crops of the file",
            "tier_max_crops": "tier_range.max_crops of the file",
            "max_crops": "the tier's maximum crops",
            "num_total_blocks": "transformer blocks of the model",
            "active_block_indices": "which blocks ran, as written (duplicates kept)",
            "n_samples": "samples stored for the run, padding repeats included",
            "n_files": "files counted: 1 for a merged file, else the pooled shards or files",
            "source": "merged (one file), shards (pooled _rank<R> shards) or pooled (non-shard files of different examples)",
            "num_samples_written": "num_samples as the file says",
            "accuracy": "the file's accuracy as written (NaN for zero-sample files)",
            "accuracy_std": "the file's accuracy_std as written (population std)",
            "latency_stats": "latency_stats as written: <stage>_mean/_std/_p50/_p95/_p99 in ms (JSON; typed: config_stats)",
            "aggregate_stats": "aggregate_stats as written by older or recovery-merged files (JSON)",
            "selected_crops_mean": "mean crops selected, as written",
            "selected_crops_std": "std of the crops selected, as written",
            "selected_crops_distribution": '{"<crops>": count}, as written',
            "target_vision_tokens_mean": "as written",
            "target_vision_tokens_std": "as written",
            "actual_vision_tokens_mean": "as written (NaN for zero-sample files)",
            "actual_vision_tokens_std": "as written (NaN for zero-sample files)",
            "shape": "shape of the file the summary comes from (see files.shape)",
            "summary_file": "that file's path relative to the ingest root",
        },
    ),
    "files": (
        "Every file ingest has seen, with what it did with it",
        {
            **_CONFIG,
            "file_id": "stable id of the path",
            "rel_path": "path relative to the ingest root",
            "path": "the file's real path (links and .. resolved): its identity",
            "root": "the ingest root (the core_exp_<hw> folder, else the folder given)",
            "size": "bytes",
            "mtime": "modification time, seconds since the epoch",
            "sha256": "of the file's bytes",
            "shape": "current, aggregate_stats, recovery_merged, pre_tier or legacy_timing",
            "status": "ingested, superseded (another file holds its samples), skipped (no config result) or failed",
            "reason": "why superseded, skipped or failed",
            "warnings": "what ingest noticed, e.g. the file name's dataset disagrees with its folder",
            "rank": "R of a _rank<R> shard; NULL for other files",
            "config_run_id": "the config run the file belongs to",
            "n_samples": "length of per_sample_results",
            "ingested_at": "UTC time of the ingest run that wrote this row",
        },
    ),
    "config_stats": (
        "One row per config run: typed statistics of its samples, each example once (else its file summary)",
        {
            **_CONFIG,
            "source": "samples, or summary for a run without per-sample rows (its latency_stats, else aggregate_stats)",
            "n": "examples counted (padding repeats left out); NULL from a summary",
            "n_repeats": "padding repeats left out; NULL from a summary",
            "accuracy": "mean per-sample accuracy (from a summary: the file's accuracy)",
            **_stage("T_vision_total", "vision encoder + projector"),
            **_stage("T_LLM_prefill", "LLM prefill"),
            **_stage("T_LLM_decode", "all decode steps"),
            **_stage("T_total", "generate call"),
            **_stage("T_decode_per_token", "decode per token"),
        },
    ),
}


def apply(con: duckdb.DuckDBPyConnection, lake: bool) -> None:
    """COMMENT ON each view and its columns (a DuckLake takes comments on views, not on their columns)."""
    for view, (about, columns) in VIEWS.items():
        con.execute(f"COMMENT ON VIEW {view} IS {_literal(about)}")
        if lake:
            continue
        for column, text in columns.items():
            con.execute(f'COMMENT ON COLUMN {view}."{column}" IS {_literal(text)}')


def _literal(text: str) -> str:
    """COMMENT ON takes no bound parameter: the texts above, quoted."""
    return "'" + text.replace("'", "''") + "'"
