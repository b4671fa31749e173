"""Typed settings: the values every step uses, with their defaults and the reasons for them.

Every knob a deployment may turn lives here, so that the README, the checks and the assets
all quote the same numbers. Steps get a :class:`Settings` from the ``synth`` Dagster resource
(``defs/resources.py``): each field is resource config (the launchpad shows them, grouped by
concern in ``defs/config.py``); a field left unset there is read from the environment
(``SYNTH_<FIELD>``) when a run sets the resource up, never when the code location loads, so
one ``dagster dev`` serves runs with different configurations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synth_pipeline.storage.warehouse import LOCK_TIMEOUT_S

DEFAULT_HOME = Path(".synth")
HOME_DESCRIPTION = "Warehouse, reports, caches and exports."


class StorageSettings(BaseSettings):
    """Where the warehouse lives and how long a connection waits for it (the warehouse resource's own)."""

    model_config = SettingsConfigDict(env_prefix="SYNTH_", extra="ignore")

    home: Path = Field(DEFAULT_HOME, description=HOME_DESCRIPTION)
    warehouse_lock_timeout_s: float = Field(
        LOCK_TIMEOUT_S,
        ge=0,
        description="Seconds a connection waits for the inter-process lock, and for a process outside it that holds "
        "the file (a DuckDB shell, a notebook), before it fails.",
    )

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTH_", extra="ignore")

    # --- where things live -------------------------------------------------------
    home: Path = Field(DEFAULT_HOME, description=HOME_DESCRIPTION)
    landing_dir: Path | None = Field(
        None, description="Folder the new-corpus-files sensor watches; default $SYNTH_HOME/landing."
    )
    landing_settle_s: float = Field(
        5.0, ge=0, description="A landed file modified this recently may still be being written: it waits."
    )

    # --- corpus ------------------------------------------------------------------
    corpus: str = Field(
        "builtin:python-docs",
        description="Comma-separated sources: builtin:python-docs, files, folders or globs of .jsonl .json .csv .tsv "
        ".txt .md .parquet (text formats also .gz/.zst), and Hugging Face save_to_disk folders.",
    )
    corpus_text_field: str = Field("text", description="Text field of records; dotted for nested fields (meta.text).")
    corpus_id_field: str = Field(
        "id",
        description="Records' own id field, kept as raw_corpus.source_id (empty: none). doc_id stays the content hash.",
    )
    docs_per_partition: int = Field(
        500, ge=1, description="Readable records a partition takes from the corpus when it is first built."
    )

    # --- prompts and generation --------------------------------------------------
    prompts_per_document: int = Field(
        2, ge=1, le=12, description="Prompts rendered per document (distinct task x audience x style)."
    )
    passage_words: int = Field(180, ge=40, description="Target passage length when chunking.")
    max_generation_depth: int = Field(
        1, ge=0, description="Prompts built from synthetic text get depth+1; deeper ones are refused."
    )
    llm_backend: Literal["offline", "openai"] = Field(
        "offline",
        description="offline: extractive generator and heuristic judge (no model); openai: any OpenAI-protocol server.",
    )
    generator_model: str | None = Field(None, description="Default depends on the backend.")
    judge_model: str | None = Field(None, description="Default depends on the backend.")
    temperature: float = Field(0.8, ge=0.0, le=2.0, description="Sampling temperature of the generator.")
    max_tokens: int = Field(512, ge=16, description="Longest generated sample, in tokens.")
    seed: int = Field(20240101, description="Seed of the offline backend and of sampling.")

    # --- grading -----------------------------------------------------------------
    min_score: float = Field(7.0, ge=1, le=10, description="Weighted judge score (1-10) a sample needs.")
    min_acceptance_rate: float = Field(
        0.2, ge=0, le=1, description="A lower share of graded samples accepted fails the acceptance check."
    )
    max_acceptance_rate: float = Field(
        0.95, ge=0, le=1, description="A higher share accepted fails it too: a judge that accepts all judges nothing."
    )

    # --- mix assembly and its guardrails ------------------------------------------
    target_synthetic_ratio: float = Field(
        0.4, ge=0, lt=1, description="Synthetic token share the mix assembly aims at."
    )
    max_synthetic_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Blocking cap on the synthetic token share (partition and cumulative). "
        "0.5 = never more synthetic than real tokens: accumulating real data alongside "
        "synthetic avoids collapse (Gerstgrasser et al. 2024), and iterative retraining stays "
        "stable only while the real share is large enough (Bertrand et al., ICLR 2024).",
    )
    max_synthetic_item_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Blocking cap on the synthetic share of mix items (samples are shorter than documents).",
    )
    max_generation_error_rate: float = Field(
        0.05, ge=0, le=1, description="Warning above this share of failed generations."
    )
    max_task_share: float = Field(0.5, gt=0, le=1, description="Largest share one task may take of synthetic items.")
    near_dup_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Jaccard similarity of word shingles above which two texts are near duplicates (MinHash-LSH "
        "candidates, verified exactly).",
    )
    shingle_size: int = Field(5, ge=1, le=16, description="Word n-gram size of near-duplicate shingles.")
    decontaminate: str = Field(
        "",
        description="Comma-separated evaluation-set files; synthetic or real items sharing a 13-gram with them are "
        "excluded.",
    )
    # Diversity thresholds: relative to the real text of the same partition (word-matched
    # corpora), with absolute floors. Calibration: docs/metrics.md "Proposed thresholds".
    min_relative_distinct_2: float = Field(
        0.70, ge=0, description="Synthetic distinct-2 / real distinct-2 floor (noise 1.02; 30 % sentence pool 0.46)."
    )
    min_distinct_2: float = Field(
        0.25, ge=0, le=1, description="Absolute floor on synthetic distinct-2, measured on a sample of <= 100k words."
    )
    max_relative_compression_ratio: float = Field(
        1.30, gt=0, description="Synthetic / real gzip compression ratio ceiling (noise 0.99; 10 % pool 1.56)."
    )
    max_compression_ratio: float = Field(
        4.0, gt=1, description="Absolute ceiling on the synthetic gzip compression ratio (prose 2.5-3.5)."
    )
    max_relative_homogenisation: float = Field(
        2.5, gt=0, description="Warning: synthetic/real Self-BLEU or self-repetition above this (collapse >= 2.5)."
    )
    max_unigram_jsd: float = Field(
        0.10, ge=0, le=1, description="Warning: unigram JSD synthetic vs real above max(this, 2 x real-halves JSD)."
    )
    max_bias_log_ratio: float = Field(
        0.405, ge=0, description="Warning: |log(share_synthetic / share_real)| of a term group above ln 1.5."
    )
    max_copy_rate: float = Field(
        0.2, ge=0, le=1, description="Warning (model backends): share of samples with a 13-gram of their own passage."
    )
    max_near_dup_rate: float = Field(
        0.2, ge=0, le=1, description="Ceiling on the share of synthetic candidates removed as near duplicates."
    )

    # --- openai backend (issue: real generation) ----------------------------------
    max_concurrency: int = Field(32, ge=1, description="Requests in flight at once, per role.")
    request_timeout_s: float = Field(60.0, gt=0, description="Seconds one request may take.")
    max_attempts: int = Field(5, ge=1, description="Tries per request (retryable errors only).")
    # Keys are never settings: OPENAI_API_KEY (or SYNTH_GENERATOR_API_KEY / SYNTH_JUDGE_API_KEY
    # per role) is read from the environment at call time, so it cannot reach public_dict().
    generator_base_url: str | None = Field(
        None, description="Generator endpoint; default $OPENAI_BASE_URL, else OpenAI."
    )
    judge_base_url: str | None = Field(None, description="Judge endpoint; default $OPENAI_BASE_URL, else OpenAI.")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Optional client-side request rate limit per role."
    )
    tokens_per_minute: float | None = Field(
        None, gt=0, description="Optional client-side token rate limit (prompt + max_tokens)."
    )
    retry_base_delay_s: float = Field(0.5, ge=0, description="First retry delay; doubles per attempt, with jitter.")
    retry_max_delay_s: float = Field(30.0, ge=0, description="Cap on one backoff delay (Retry-After may ask for more).")
    max_retry_after_s: float = Field(
        120.0, ge=0, description="A Retry-After longer than this fails the request instead."
    )
    judge_temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature of the judge.")
    judge_max_tokens: int = Field(400, ge=16, description="Longest judge answer, in tokens.")
    judge_response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="auto: json_schema, falling back to json_object, then plain text, as the server allows."
    )
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="OpenAI reasoning models need max_completion_tokens; most servers take max_tokens."
    )
    price_table: str | None = Field(
        None, description="JSON or JSON file: {model: {input, output, cached_input}} USD per 1M tokens."
    )
    llm_cache: bool = Field(True, description="Reuse responses stored in synth.llm_response_cache (never pay twice).")
    cache_flush_rows: int = Field(
        1000, ge=1, description="Responses per warehouse write during generation (each is journaled at once anyway)."
    )
    cache_flush_interval_s: float = Field(
        2.0, gt=0, description="Longest wait before journaled responses are written to the warehouse."
    )
    progress_interval_s: float = Field(5.0, gt=0, description="Seconds between progress reports to the run log.")

    # --- dataset release (issue 6: export) -----------------------------------------
    release_shard_max_bytes: int = Field(
        500_000_000,
        ge=1024,
        description="Upper bound on one Parquet/JSONL shard's uncompressed size (the `datasets` push_to_hub default, "
        "500 MB).",
    )
    release_chat_jsonl: bool = Field(
        False, description="Also write synthetic items as chat-messages JSONL (chat/*.jsonl)."
    )
    release_license: str | None = Field(
        None,
        description="Licence id for the dataset card; default derived from the corpus (builtin: other/psf-2.0, else "
        "unknown).",
    )
    release_license_name: str | None = Field(None, description="Licence name when release_license is 'other'.")
    release_license_link: str | None = Field(None, description="Link to the licence text.")

    @model_validator(mode="after")
    def _landing_default(self) -> Settings:
        if self.landing_dir is None:
            self.landing_dir = self.home / "landing"
        return self

    @property
    def decontamination_paths(self) -> list[str]:
        """The evaluation-set files of ``decontaminate`` (empty: decontamination is off)."""
        return [p.strip() for p in self.decontaminate.split(",") if p.strip()]

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def releases_dir(self) -> Path:
        return self.home / "releases"

    def public_dict(self) -> dict[str, object]:
        """Settings as recorded in metadata and reports (no secrets live here by design)."""
        return {
            k: _redact_url(v) if k.endswith("_base_url") else (str(v) if isinstance(v, Path) else v)
            for k, v in self.model_dump().items()
            if not _SECRET_FIELD.search(k)
        }


_SECRET_FIELD = re.compile(r"(api_key|secret|password|credential)", re.IGNORECASE)


def _redact_url(value: object) -> object:
    """Drop user:password@ from a URL before it is recorded."""
    if isinstance(value, str):
        return re.sub(r"(?<=://)[^/@\s]+@", "***@", value)
    return value


def load_settings() -> Settings:
    """The settings of the environment as it is now, for code outside a run; a step takes
    ``synth.settings()`` instead, where resource config comes first."""
    return Settings()
