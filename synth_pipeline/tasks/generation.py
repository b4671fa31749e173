"""The generation task: a seed prompt in, one completion out.

Its prompt is a task template (:mod:`synth_pipeline.prompts.templates`) rendered on a
passage, stored finished in ``seed_prompts.messages``; a request carries exactly those
messages and the sampling parameters. The output is free text: nothing to parse, the
sample rows (:mod:`synth_pipeline.tasks.samples`) keep it with its finish reason.

:func:`read_prompt` reads a rendered prompt back into its fields, for a backend that
works from the fields rather than the prose (the offline extractive generator), so no
request carries anything but messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

import polars as pl

from synth_pipeline.chat import GenerationRequest, Messages
from synth_pipeline.prompts import templates
from synth_pipeline.settings import Settings
from synth_pipeline.text import content_hash

SAMPLE_INDEX = 0  # one completion per prompt; the index is part of the id and of the cache key
_PLACEHOLDER = re.compile(r"\{(passage|audience|style)\}")


def sample_id(prompt_id: str, model: str, index: int = SAMPLE_INDEX) -> str:
    return content_hash(f"{prompt_id}|{model}|{index}")


def requests(prompts: pl.DataFrame, settings: Settings, model: str) -> list[GenerationRequest]:
    """One request per seed prompt, its messages as rendered."""
    return [
        GenerationRequest(
            request_id=sample_id(prompt_id, model),
            messages=json.loads(messages),
            model=model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
        )
        for prompt_id, messages in zip(
            prompts.get_column("prompt_id").to_list(), prompts.get_column("messages").to_list(), strict=True
        )
    ]


@dataclass(frozen=True)
class PromptFields:
    """What a template was rendered with."""

    task: str
    passage: str
    audience: str
    style: str


def read_prompt(messages: Messages) -> PromptFields | None:
    """The fields a generation prompt was rendered from; None when ``messages`` are not one
    (another system prompt, or a user text no current template renders)."""
    if len(messages) != 2 or messages[0].get("content") != templates.SYSTEM:
        return None
    user = messages[1].get("content") or ""
    for template in templates.TEMPLATES:  # read at call time: the templates in force
        fields = _read(_parts(template.user), user)
        if fields is not None:
            return PromptFields(task=template.task, **{"passage": "", "audience": "", "style": "", **fields})
    return None


@cache
def _parts(user_template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A template's user text as its opening literal and (placeholder, literal after it) pairs."""
    parts = _PLACEHOLDER.split(user_template)
    return parts[0], tuple(zip(parts[1::2], parts[2::2], strict=True))


def _read(parts: tuple[str, tuple[tuple[str, str], ...]], user: str) -> dict[str, str] | None:
    """``TaskTemplate.render`` inverted. A placeholder's text ends where the literal after it
    first occurs, which is exact because that literal never occurs in the task's audiences
    and styles, and the passage comes last (its text runs to the template's last literal);
    a placeholder used twice must have rendered the same text twice."""
    opening, rest = parts
    if not user.startswith(opening):
        return None
    fields: dict[str, str] = {}
    at = len(opening)
    for k, (name, literal) in enumerate(rest):
        if k == len(rest) - 1:
            end = len(user) - len(literal)
            if end < at or not user.endswith(literal):
                return None
        else:
            end = user.find(literal, at) if literal else at
            if end < 0:
                return None
        text = user[at:end]
        if fields.setdefault(name, text) != text:
            return None
        at = end + len(literal)
    return fields if at == len(user) else None
