"""The settings as Dagster config, one class per concern: what the launchpad shows under ``synth``.

Each field is a :class:`~synth_pipeline.settings.Settings` field of the same name, typed, with
that field's description. Every field defaults to ``None``, meaning "not configured": the value
then comes from ``SYNTH_<FIELD>`` when a run sets the resource up, else from the default in
``settings.py`` (see ``SynthResource``). Constraints (ranges, choices) are checked once, by
``Settings``, so the launchpad and the environment are held to the same rules.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from dagster import Config
from pydantic import Field

from synth_pipeline.settings import Settings


def _shown(value: object) -> str:
    return str(value) if isinstance(value, Path) else repr(value)


def setting(name: str) -> Any:
    """A config field standing for ``Settings.<name>``: unset by default, described as the setting is."""
    field = Settings.model_fields[name]
    fallback = f"unset: ${'SYNTH_' + name.upper()} if set"
    if field.default is not None:
        fallback += f", else {_shown(field.default)}"
    return Field(default=None, description=f"{field.description or name} ({fallback}.)")


class LlmBackend(enum.Enum):
    offline = "offline"
    openai = "openai"


class JudgeResponseFormat(enum.Enum):
    auto = "auto"
    json_schema = "json_schema"
    json_object = "json_object"
    none = "none"


class MaxTokensParam(enum.Enum):
    max_tokens = "max_tokens"
    max_completion_tokens = "max_completion_tokens"


class CorpusConfig(Config):
    """Where documents come from and how many a partition takes (the landing folder is a source too)."""

    corpus: str | None = setting("corpus")
    corpus_text_field: str | None = setting("corpus_text_field")
    corpus_id_field: str | None = setting("corpus_id_field")
    docs_per_partition: int | None = setting("docs_per_partition")
    landing_dir: str | None = setting("landing_dir")
    landing_settle_s: float | None = setting("landing_settle_s")


class GenerationConfig(Config):
    """Prompts built from the documents, and the models that write and grade samples."""

    prompts_per_document: int | None = setting("prompts_per_document")
    passage_words: int | None = setting("passage_words")
    max_generation_depth: int | None = setting("max_generation_depth")
    llm_backend: LlmBackend | None = setting("llm_backend")
    generator_model: str | None = setting("generator_model")
    judge_model: str | None = setting("judge_model")
    temperature: float | None = setting("temperature")
    max_tokens: int | None = setting("max_tokens")
    seed: int | None = setting("seed")


class GradingConfig(Config):
    """What a sample needs to be accepted, and the acceptance rates a healthy judge stays within."""

    min_score: float | None = setting("min_score")
    min_acceptance_rate: float | None = setting("min_acceptance_rate")
    max_acceptance_rate: float | None = setting("max_acceptance_rate")


class MixConfig(Config):
    """Mix assembly and the guardrails its checks hold it to (caps, near duplicates, diversity, drift)."""

    target_synthetic_ratio: float | None = setting("target_synthetic_ratio")
    max_synthetic_ratio: float | None = setting("max_synthetic_ratio")
    max_synthetic_item_ratio: float | None = setting("max_synthetic_item_ratio")
    max_generation_error_rate: float | None = setting("max_generation_error_rate")
    max_task_share: float | None = setting("max_task_share")
    near_dup_threshold: float | None = setting("near_dup_threshold")
    shingle_size: int | None = setting("shingle_size")
    decontaminate: str | None = setting("decontaminate")
    min_relative_distinct_2: float | None = setting("min_relative_distinct_2")
    min_distinct_2: float | None = setting("min_distinct_2")
    max_relative_compression_ratio: float | None = setting("max_relative_compression_ratio")
    max_compression_ratio: float | None = setting("max_compression_ratio")
    max_relative_homogenisation: float | None = setting("max_relative_homogenisation")
    max_unigram_jsd: float | None = setting("max_unigram_jsd")
    max_bias_log_ratio: float | None = setting("max_bias_log_ratio")
    max_copy_rate: float | None = setting("max_copy_rate")
    max_near_dup_rate: float | None = setting("max_near_dup_rate")


class OpenAIConfig(Config):
    """The OpenAI-protocol transport: endpoints, concurrency, retries, rate limits, the response cache.

    API keys are not config: they are read from the environment when a request is sent.
    """

    max_concurrency: int | None = setting("max_concurrency")
    request_timeout_s: float | None = setting("request_timeout_s")
    max_attempts: int | None = setting("max_attempts")
    generator_base_url: str | None = setting("generator_base_url")
    judge_base_url: str | None = setting("judge_base_url")
    requests_per_minute: float | None = setting("requests_per_minute")
    tokens_per_minute: float | None = setting("tokens_per_minute")
    retry_base_delay_s: float | None = setting("retry_base_delay_s")
    retry_max_delay_s: float | None = setting("retry_max_delay_s")
    max_retry_after_s: float | None = setting("max_retry_after_s")
    judge_temperature: float | None = setting("judge_temperature")
    judge_max_tokens: int | None = setting("judge_max_tokens")
    judge_response_format: JudgeResponseFormat | None = setting("judge_response_format")
    max_tokens_param: MaxTokensParam | None = setting("max_tokens_param")
    price_table: str | None = setting("price_table")
    llm_cache: bool | None = setting("llm_cache")
    cache_flush_rows: int | None = setting("cache_flush_rows")
    cache_flush_interval_s: float | None = setting("cache_flush_interval_s")
    progress_interval_s: float | None = setting("progress_interval_s")


class ReleaseConfig(Config):
    """The dataset release: shard size, chat export, the licence on the card."""

    release_shard_max_bytes: int | None = setting("release_shard_max_bytes")
    release_chat_jsonl: bool | None = setting("release_chat_jsonl")
    release_license: str | None = setting("release_license")
    release_license_name: str | None = setting("release_license_name")
    release_license_link: str | None = setting("release_license_link")


# The ``synth`` resource's config sections, by field name on the resource.
GROUPS: dict[str, type[Config]] = {
    "corpus": CorpusConfig,
    "generation": GenerationConfig,
    "grading": GradingConfig,
    "mix": MixConfig,
    "openai": OpenAIConfig,
    "release": ReleaseConfig,
}
GROUP_OF: dict[str, str] = {name: group for group, cls in GROUPS.items() for name in cls.model_fields}
"""Which section holds each setting (``home`` is the warehouse resource's)."""
