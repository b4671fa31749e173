"""The seam between tasks and transports.

Tasks (prompt templates, the rubric) decide *what* to ask; a backend only moves requests
and returns results. Both backends, ``offline`` and ``openai``, implement these two
protocols, so the assets never know which one they talk to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

Messages = list[dict[str, str]]
ProgressCallback = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to produce. ``request_id`` becomes the ``sample_id``."""

    request_id: str
    messages: Messages
    model: str
    temperature: float
    max_tokens: int
    seed: int
    # Grounding for the offline backend; remote backends only see ``messages``.
    passage: str = ""
    task: str = ""
    audience: str = ""
    style: str = ""


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


@dataclass(frozen=True)
class GradeRequest:
    """One sample for the judge: the passage it must be faithful to and what was asked."""

    request_id: str  # the sample_id
    passage: str
    instruction: str
    sample_text: str
    task: str
    model: str
    seed: int


@dataclass
class GradeResult(CallUsage):
    """The judge's raw reply; parsing into scores is the rubric's job."""

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
