"""Versioned task templates, audiences and styles for seed prompts.

Varying the task, the audience and the style of each prompt is the cheapest defence
against homogeneous synthetic data (the approach of Phi's "textbooks" and Cosmopedia).
Each template's version is its name plus a hash of its text: editing a template
changes ``template_version`` on every row it renders and the code version of
``seed_prompts``, so the UI marks everything downstream stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

SYSTEM = (
    "You write high-quality training data. Stay faithful to the source passage: "
    "do not invent facts that it does not support."
)


@dataclass(frozen=True)
class TaskTemplate:
    task: str
    user: str  # placeholders: {passage} {audience} {style}

    @cached_property  # read for every prompt rendered
    def version(self) -> str:
        digest = hashlib.sha256((SYSTEM + self.user).encode()).hexdigest()[:8]
        return f"{self.task}@{digest}"

    def render(self, passage: str, audience: str, style: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": self.user.format(passage=passage, audience=audience, style=style)},
        ]


TEMPLATES: tuple[TaskTemplate, ...] = (
    TaskTemplate(
        "question_answering",
        "Read the passage and write one question a {audience} would ask about it, then answer it "
        "using only the passage. Style: {style}. Format: 'Question: ...' then 'Answer: ...'.\n\n"
        "Passage:\n{passage}",
    ),
    TaskTemplate(
        "explanation",
        "Explain the main idea of this passage to a {audience}. Style: {style}. Use only facts "
        "the passage states.\n\nPassage:\n{passage}",
    ),
    TaskTemplate(
        "summary",
        "Summarise the passage in three to five sentences for a {audience}. Style: {style}.\n\nPassage:\n{passage}",
    ),
    TaskTemplate(
        "instruction_response",
        "Write an instruction a {audience} might give an assistant that this passage answers, then the "
        "assistant's response grounded in the passage. Style: {style}. Format: 'Instruction: ...' then "
        "'Response: ...'.\n\nPassage:\n{passage}",
    ),
    TaskTemplate(
        "textbook_section",
        "Write a short textbook section for a {audience} that teaches what this passage covers, with a "
        "heading and one worked point. Style: {style}.\n\nPassage:\n{passage}",
    ),
    TaskTemplate(
        "rewrite",
        "Rewrite the passage for a {audience} without changing its meaning. Style: {style}.\n\nPassage:\n{passage}",
    ),
)

AUDIENCES = (
    "beginner programmer",
    "experienced software engineer",
    "university student",
    "technical writer",
    "data scientist",
    "curious high-school student",
)
STYLES = ("concise", "step by step", "friendly and informal", "formal", "example-driven")


def templates_fingerprint() -> str:
    """One hash of every template, audience and style: part of seed_prompts' code version."""
    text = "|".join(t.version for t in TEMPLATES) + "|" + "|".join(AUDIENCES) + "|" + "|".join(STYLES)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
