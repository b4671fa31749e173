"""The offline backend: a real, deterministic generator and judge that need no model.

It is not a test double. It lets the whole graph run on a machine with no key and no
network, and it is honest about it: every row it writes says ``backend=offline`` and
model ``offline-extractive-v1`` / ``offline-heuristic-judge-v1``, and every report it
feeds says that the synthetic text was built by extraction, not by a language model.

Generator: picks the passage's most central sentences (by shared content words),
frames them for the requested task, audience and style, and varies its phrasing with
a seeded random choice per request, so the same request always yields the same text.
Judge: scores the rubric's criteria from measurable properties (support of the
sample's content words in the passage, length, sentence shape, heuristic flags) and
answers in the rubric's JSON shape, which goes through the same parser as a model's.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence



from synth_pipeline.llm.interface import (
    GenerationRequest,
    GenerationResult,
    GradeRequest,
    GradeResult,
    ProgressCallback,
)
from synth_pipeline.llm.rubric import CRITERIA
from synth_pipeline.quality_flags import copied_share, heuristic_flags
from synth_pipeline.text import content_words, count_tokens, sentences, stable_hash

OFFLINE_GENERATOR_MODEL = "offline-extractive-v1"
OFFLINE_JUDGE_MODEL = "offline-heuristic-judge-v1"


def _rng(seed: int, request_id: str) -> random.Random:
    return random.Random(stable_hash(f"{seed}:{request_id}"))


def _central_sentences(passage: str, k: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """``k`` of the passage's most central sentences (sharing most content words), in passage order.

    Each request draws its own ``k`` from the ``k + 3`` most central, so two prompts on one
    passage do not receive the same sentences.
    """
    sents = [s for s in sentences(passage) if len(s.split()) >= 4]
    freq = Counter(content_words(passage))
    keywords = [w for w, _ in freq.most_common(8)]
    if not sents:
        return [], keywords
    scored = sorted(
        range(len(sents)),
        key=lambda i: (-sum(freq[w] for w in set(content_words(sents[i]))) / (1 + len(sents[i].split()) ** 0.5), i),
    )
    chosen = sorted(rng.sample(scored[: k + 3], k=min(k, len(scored))))
    return [sents[i] for i in chosen], keywords


_OPENERS = {
    "question_answering": [
        "Question: What does the text say about {kw}?", "Question: How does {kw} work here?",
        "Question: Why does {kw} matter in this context?", "Question: What should a {aud} know about {kw}?",
        "Question: When is {kw} relevant?", "Question: Can you describe {kw} briefly?",
        "Q: what is the role of {kw}?", "Question: Which facts about {kw} does the documentation give?",
    ],
    "explanation": [
        "Here is the core idea, explained for a {aud}.", "Let us unpack this for a {aud}.", "In plain terms for a {aud}:",
        "What this means in practice:", "The gist, for a {aud}:", "A short explanation of {kw}:",
        "To understand {kw}, start here.", "",
    ],
    "summary": ["Summary:", "In short:", "The passage, summarised:", "Key points on {kw}:", "TL;DR:", "Briefly:", ""],
    "instruction_response": [
        "Instruction: Explain {kw} as the documentation describes it.", "Instruction: Tell me what I need to know about {kw}.",
        "Instruction: Describe how {kw} behaves.", "Instruction: Give a {aud} an overview of {kw}.",
        "Instruction: What does the reference say about {kw}?", "Instruction: Summarise the behaviour of {kw}.",
    ],
    "textbook_section": [
        "## Understanding {kw}", "## A closer look at {kw}", "## {kw}: the essentials", "### {kw}", "## Working with {kw}",
        "## Lesson: {kw}", "## Notes on {kw}",
    ],
    "rewrite": [
        "Rewritten for a {aud}:", "The same content, restated for a {aud}:", "A {aud}'s version:", "", "Restated:",
        "In other words:",
    ],
}
_BRIDGES = {
    "concise": ["", "", "", "Also, "],
    "step by step": ["First, ", "Then ", "Next, ", "After that, ", "Finally, ", "Second, "],
    "friendly and informal": ["Put simply, ", "The nice part is that ", "Keep in mind that ", "Basically, ", "Good to know: ", ""],
    "formal": ["Notably, ", "Furthermore, ", "In addition, ", "Moreover, ", "It should be noted that ", ""],
    "example-driven": ["For example, ", "As an illustration, ", "Consider that ", "Take this case: ", "In practice, ", ""],
}
_CLOSERS = [
    "The key term to remember is {kw}.",
    "Everything above follows from the passage's description of {kw}.",
    "In one line: {kw} is what this passage is about.",
    "That covers {kw}.",
    "See the reference for more on {kw}.",
    "Remember {kw} when this comes up again.",
]
CLOSER_PROBABILITY = 0.25
# Formats the task asks for keep their labels; free-form tasks open with a framing line
# only some of the time, so framing phrases do not become the generator's verbal tics.
_LABELLED_TASKS = {"question_answering": ("", "Answer: "), "instruction_response": ("", "Response: ")}
_QUESTION_PREFIXES = ["", "Q: ", "Question: ", "A {aud} asks: ", "Asked by a {aud}: "]
OPENER_PROBABILITY = 0.6


class OfflineGenerator:
    """Deterministic, passage-grounded completions; see the module docstring."""

    name = "offline"

    def __init__(self, model: str | None = None):
        self.model = model or OFFLINE_GENERATOR_MODEL

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        results = []
        for done, request in enumerate(requests, start=1):
            text = self._complete(request)
            results.append(
                GenerationResult(
                    request_id=request.request_id,
                    text=text,
                    finish_reason="stop",
                    prompt_tokens=sum(count_tokens(m["content"]) for m in request.messages),
                    completion_tokens=count_tokens(text),
                )
            )
            if progress and (done % 500 == 0 or done == len(requests)):
                progress(done, len(requests))
        return results

    def _complete(self, request: GenerationRequest) -> str:
        rng = _rng(request.seed, request.request_id)
        chosen, keywords = _central_sentences(request.passage, rng.choice((2, 3)), rng)
        keyword = rng.choice(keywords[:3]) if keywords else "this topic"
        audience = request.audience or "reader"
        opener = rng.choice(_OPENERS.get(request.task, ["{kw}:"]))
        if request.task == "question_answering":
            opener = rng.choice(_QUESTION_PREFIXES) + opener.split(": ", 1)[-1]
        elif request.task not in _LABELLED_TASKS and rng.random() > OPENER_PROBABILITY:
            opener = ""
        opener = opener.format(kw=keyword, aud=audience)
        bridges = _BRIDGES.get(request.style, [""])
        body = []
        for i, sentence in enumerate(chosen):
            bridge = (bridges[min(i, len(bridges) - 1)] if request.style == "step by step" else rng.choice(bridges)) if rng.random() < 0.6 else ""
            body.append(bridge + (sentence[0].lower() + sentence[1:] if bridge and sentence[:1].isupper() and not sentence[1:2].isupper() else sentence))
        label = rng.choice(_LABELLED_TASKS[request.task]) if request.task in _LABELLED_TASKS else ""
        body_text = label + " ".join(body)
        closer = rng.choice(_CLOSERS).format(kw=keyword) if rng.random() < CLOSER_PROBABILITY else ""
        return "\n".join(part for part in (opener, body_text, closer) if part).strip()


class OfflineJudge:
    """Rubric scores from measurable properties; replies in the rubric's JSON shape."""

    name = "offline"

    def __init__(self, model: str | None = None):
        self.model = model or OFFLINE_JUDGE_MODEL

    def grade(self, requests: Sequence[GradeRequest], progress: ProgressCallback | None = None) -> list[GradeResult]:
        results = []
        for done, request in enumerate(requests, start=1):
            results.append(GradeResult(request_id=request.request_id, raw_text=json.dumps(self._scores(request))))
            if progress and (done % 500 == 0 or done == len(requests)):
                progress(done, len(requests))
        return results

    @staticmethod
    def _scores(request: GradeRequest) -> dict:
        sample_words = content_words(request.sample_text)
        passage_vocab = set(content_words(request.passage))
        support = sum(w in passage_vocab for w in sample_words) / max(1, len(sample_words))
        n_words = len(request.sample_text.split())
        sents = sentences(request.sample_text) or [request.sample_text]
        mean_sentence = n_words / len(sents)
        flags = heuristic_flags(request.sample_text, request.passage)
        faithfulness = 1 + 9 * support
        correctness = min(faithfulness, 9.0) - (3 if "repetition" in flags else 0)
        # Helpfulness: an answer of a useful length that does more than copy its source.
        helpfulness = 9 if 60 <= n_words <= 260 else (7 if 35 <= n_words <= 400 else 3)
        # Copying long runs of the passage adds little: the more it copies, the less it helps.
        helpfulness -= 5 * copied_share(request.sample_text, request.passage)
        # Clarity: prose-shaped sentences; code, markup and URLs read poorly as training prose.
        clarity = 9 if 10 <= mean_sentence <= 28 else (6 if 5 <= mean_sentence <= 45 else 3)
        code_chars = sum(request.sample_text.count(c) for c in "{}[]()=_<>|`*\\/:")
        code_share = code_chars / max(1, len(request.sample_text))
        clarity -= 5 if code_share > 0.05 else (3 if code_share > 0.03 else 0)
        safety = 2 if {"prompt_injection", "pii", "refusal"} & set(flags) else 10
        scores = {
            "faithfulness": faithfulness,
            "correctness": correctness,
            "helpfulness": helpfulness,
            "clarity": clarity,
            "safety": safety,
        }
        reply = {c: int(min(10, max(1, round(scores[c])))) for c in CRITERIA}
        reply["rationale"] = (
            f"offline heuristic judge: {support:.0%} of content words supported by the passage, "
            f"{n_words} words, {mean_sentence:.0f} words/sentence, flags={','.join(flags) or 'none'}"
        )
        return reply
