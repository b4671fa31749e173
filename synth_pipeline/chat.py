"""The seam between tasks and transports.

A task (:mod:`synth_pipeline.tasks.generation`, :mod:`synth_pipeline.tasks.grading`)
formats its inputs into messages, says which structured output it accepts and parses
the reply. A backend only moves messages: every request it receives is the same
shape, finished messages plus sampling parameters and ids, and it returns the raw
reply with its usage. Both backends, ``offline`` and ``openai``, implement the two
protocols below, so the assets never know which one they talk to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

Messages = list[dict[str, str]]
ProgressCallback = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ResponseFormat:
    """One shape a task accepts its reply in: ``body`` is the ``response_format`` a server
    is sent (None: a plain prompt, the task parses whatever comes back)."""

    name: str
    body: dict | None = None


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to produce; ``request_id`` becomes the row's id."""

    request_id: str
    messages: Messages
    model: str
    temperature: float
    max_tokens: int
    seed: int
    # Best first; a transport steps down to the next the first time a server refuses one.
    # Empty: a plain prompt, nothing recorded about the format.
    response_formats: tuple[ResponseFormat, ...] = ()
    # (name, value) pairs that identify the reply besides messages and parameters (the
    # task's version, say): part of the response cache key, never sent.
    cache_tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GenerationRequest(ChatRequest):
    """A prompt of the generation task; its ``request_id`` is the ``sample_id``."""


@dataclass(frozen=True)
class GradeRequest(ChatRequest):
    """A sample formatted by the grading task; its ``request_id`` is the ``sample_id``."""


@dataclass(kw_only=True)
class CallUsage:
    """What one call cost and how it went; completions and grades both carry it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    error: str | None = None
    attempts: int = 1
    latency_s: float = 0.0

    def usage(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(CallUsage)}


@dataclass
class GenerationResult(CallUsage):
    """One completion or one recorded failure (``text`` None and ``error`` set)."""

    request_id: str
    text: str | None
    finish_reason: str | None


@dataclass
class GradeResult(CallUsage):
    """The judge's raw reply; parsing it into scores is the grading task's job."""

    request_id: str
    raw_text: str | None
    extra: dict = field(default_factory=dict)


class GeneratorBackend(Protocol):
    name: str  # "offline" | "openai"
    model: str

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]: ...


class JudgeBackend(Protocol):
    name: str
    model: str

    def grade(
        self, requests: Sequence[GradeRequest], progress: ProgressCallback | None = None
    ) -> list[GradeResult]: ...
