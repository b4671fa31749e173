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

Neither reads prose, so both are task-aware: like any backend they receive only
messages, and they read them back into the fields the task formatted them from
(:func:`synth_pipeline.tasks.generation.read_prompt`,
:func:`synth_pipeline.tasks.grading.read_messages`). Messages that are not the task's
become error results, as a model's refusal would.

Both work on the whole batch at once (polars and numpy; a Python call per request
cost seconds per 10k documents). A request's random choices are uniform draws
derived from ``stable_hash(f"{seed}:{request_id}")`` and a fixed slot per choice, so
they do not depend on which other requests share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from synth_pipeline.chat import (
    GenerationRequest,
    GenerationResult,
    GradeRequest,
    GradeResult,
    ProgressCallback,
)
from synth_pipeline.tasks import generation, grading
from synth_pipeline.tasks.flags import CHUNK, HEURISTIC_FLAGS, flag_batch
from synth_pipeline.tasks.grading import CRITERIA
from synth_pipeline.text import stable_hash
from synth_pipeline.text.frames import (
    content_mask,
    mix64,
    rank_in_row,
    sentence_frame,
    series,
    uniform,
    whitespace_word_counts,
    word_frame,
)

OFFLINE_GENERATOR_MODEL = "offline-extractive-v1"
OFFLINE_JUDGE_MODEL = "offline-heuristic-judge-v1"
TOKEN = r"\w+|[^\w\s]"  # text.count_tokens
# Draw slots: one per random choice of a request (sentences and bridges get a range each).
_K, _KEYWORD, _OPENER, _PREFIX, _OPENER_ON, _LABEL, _CLOSER_ON, _CLOSER = range(8)
_BRIDGE_ON, _BRIDGE = 16, 17  # + 2 * position of the sentence in the sample
_SENTENCE = 1 << 20  # + index of the sentence in the passage
CANDIDATES_BEYOND_K = 3  # each request draws its k sentences from the k + 3 most central

_OPENERS = {
    "question_answering": [
        "Question: What does the text say about {kw}?",
        "Question: How does {kw} work here?",
        "Question: Why does {kw} matter in this context?",
        "Question: What should a {aud} know about {kw}?",
        "Question: When is {kw} relevant?",
        "Question: Can you describe {kw} briefly?",
        "Q: what is the role of {kw}?",
        "Question: Which facts about {kw} does the documentation give?",
    ],
    "explanation": [
        "Here is the core idea, explained for a {aud}.",
        "Let us unpack this for a {aud}.",
        "In plain terms for a {aud}:",
        "What this means in practice:",
        "The gist, for a {aud}:",
        "A short explanation of {kw}:",
        "To understand {kw}, start here.",
        "",
    ],
    "summary": ["Summary:", "In short:", "The passage, summarised:", "Key points on {kw}:", "TL;DR:", "Briefly:", ""],
    "instruction_response": [
        "Instruction: Explain {kw} as the documentation describes it.",
        "Instruction: Tell me what I need to know about {kw}.",
        "Instruction: Describe how {kw} behaves.",
        "Instruction: Give a {aud} an overview of {kw}.",
        "Instruction: What does the reference say about {kw}?",
        "Instruction: Summarise the behaviour of {kw}.",
    ],
    "textbook_section": [
        "## Understanding {kw}",
        "## A closer look at {kw}",
        "## {kw}: the essentials",
        "### {kw}",
        "## Working with {kw}",
        "## Lesson: {kw}",
        "## Notes on {kw}",
    ],
    "rewrite": [
        "Rewritten for a {aud}:",
        "The same content, restated for a {aud}:",
        "A {aud}'s version:",
        "",
        "Restated:",
        "In other words:",
    ],
}
_BRIDGES = {
    "concise": ["", "", "", "Also, "],
    "step by step": ["First, ", "Then ", "Next, ", "After that, ", "Finally, ", "Second, "],
    "friendly and informal": [
        "Put simply, ",
        "The nice part is that ",
        "Keep in mind that ",
        "Basically, ",
        "Good to know: ",
        "",
    ],
    "formal": ["Notably, ", "Furthermore, ", "In addition, ", "Moreover, ", "It should be noted that ", ""],
    "example-driven": [
        "For example, ",
        "As an illustration, ",
        "Consider that ",
        "Take this case: ",
        "In practice, ",
        "",
    ],
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


def _choice(options: Sequence[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _draw_bases(seeds: Sequence[int], request_ids: Sequence[str]) -> np.ndarray:
    return np.fromiter(
        (stable_hash(f"{s}:{r}") for s, r in zip(seeds, request_ids, strict=True)), dtype=np.uint64, count=len(seeds)
    )


def central_sentences(passages: pl.Series, k: np.ndarray, base: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per request: ``k`` of its passage's most central sentences, and its top-3 keywords.

    A sentence's centrality is the summed passage frequency of its distinct content
    words over 1 + sqrt(its length): sentences that share most words with the rest of
    the passage, without favouring long ones. Only sentences of >= 4 words count. Each
    request draws its ``k`` from the ``k + 3`` most central (seeded), so two prompts on
    one passage do not receive the same sentences. Returns ``(row, sent, sentence)``
    in passage order and ``(row, word)``, the keywords by falling frequency (ties: first seen).
    """
    sents = sentence_frame(passages).with_row_index("sid")
    words = word_frame(sents["sentence"]).filter(content_mask(pl.col("word"))).rename({"row": "sid"})
    sid = words["sid"].to_numpy()
    row = sents["row"].to_numpy()[sid]
    # One 64-bit key per (request, word): grouping and joining on it beats strings.
    key = mix64(words["word"].hash(seed=0).to_numpy() ^ mix64(row.astype(np.uint64)))
    words = words.with_columns(pl.Series("row", row), pl.Series("key", key)).with_row_index("order")
    freq = (
        words.group_by("key")
        .agg(pl.len().alias("count"), pl.col("order").min().alias("first"), pl.col("row").first())
        .sort("row", "count", "first", descending=[False, True, False])
    )
    top = rank_in_row(freq["row"].to_numpy()) < 3
    keywords = freq.filter(pl.Series(top)).select("row", pl.col("first").alias("order"))
    keywords = keywords.join(words.select("order", "word"), on="order", how="left").select("row", "word")
    shared = (
        words.unique(["sid", "key"])
        .join(freq.select("key", "count"), on="key", how="left")
        .group_by("sid")
        .agg(pl.col("count").sum().alias("shared"))
    )
    ranked = (
        sents.with_columns(whitespace_word_counts(pl.col("sentence")).alias("n_words"))
        .filter(pl.col("n_words") >= 4)
        .join(shared, on="sid", how="left")
        .with_columns(
            (-pl.col("shared").fill_null(0).cast(pl.Float64) / (1 + pl.col("n_words").cast(pl.Float64).sqrt())).alias(
                "neg"
            )
        )
        .sort("row", "neg", "sent")
    )
    row = ranked["row"].to_numpy()
    ranked = ranked.filter(pl.Series(rank_in_row(row) < k[row] + CANDIDATES_BEYOND_K))
    row = ranked["row"].to_numpy()
    draw = uniform(base[row], _SENTENCE + ranked["sent"].to_numpy().astype(np.uint64))
    chosen = ranked.with_columns(pl.Series("draw", draw)).sort("row", "draw")
    row = chosen["row"].to_numpy()
    chosen = chosen.filter(pl.Series(rank_in_row(row) < k[row]))
    return chosen.select("row", "sent", "sentence").sort("row", "sent"), keywords


def _initial_upper(text: pl.Expr, at: int) -> pl.Expr:
    char = text.str.slice(at, 1)
    return (char.str.len_chars() == 1) & (char != char.str.to_lowercase()) & (char == char.str.to_uppercase())


def _bodies(chosen: pl.DataFrame, styles: list[str], base: np.ndarray, n: int) -> list[str]:
    """Each request's chosen sentences joined, some opened by a bridge phrase of its style."""
    row = chosen["row"].to_numpy()
    i = rank_in_row(row).astype(np.uint64)
    bridge_on = uniform(base[row], _BRIDGE_ON + 2 * i) < 0.6
    bridge_pick = uniform(base[row], _BRIDGE + 2 * i)
    bridges = []
    for r, position, on, u in zip(row.tolist(), i.tolist(), bridge_on.tolist(), bridge_pick.tolist(), strict=True):
        style = styles[r]
        options = _BRIDGES.get(style, [""])
        if not on:
            bridges.append("")
        elif style == "step by step":
            bridges.append(options[min(position, len(options) - 1)])
        else:
            bridges.append(_choice(options, u))
    sentence = pl.col("sentence")
    lower_first = (pl.col("bridge") != "") & _initial_upper(sentence, 0) & ~_initial_upper(sentence, 1)
    bodies = (
        chosen.with_columns(pl.Series("bridge", bridges, dtype=pl.String))
        .with_columns(
            pl.when(lower_first)
            .then(pl.col("bridge") + sentence.str.slice(0, 1).str.to_lowercase() + sentence.str.slice(1))
            .otherwise(pl.col("bridge") + sentence)
            .alias("part")
        )
        .group_by("row", maintain_order=True)
        .agg(pl.col("part").str.join(" "))
    )
    out = [""] * n
    for r, body in zip(bodies["row"].to_list(), bodies["part"].to_list(), strict=True):
        out[r] = body
    return out


class OfflineGenerator:
    """Deterministic, passage-grounded completions; see the module docstring."""

    name = "offline"

    def __init__(self, model: str | None = None):
        self.model = model or OFFLINE_GENERATOR_MODEL

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        results: list[GenerationResult] = []
        for start in range(0, len(requests), CHUNK):
            results.extend(self._generate(requests[start : start + CHUNK]))
            if progress:
                progress(len(results), len(requests))
        return results

    def _generate(self, batch: Sequence[GenerationRequest]) -> list[GenerationResult]:
        read = [generation.read_prompt(r.messages) for r in batch]
        requests = [r for r, f in zip(batch, read, strict=True) if f is not None]
        fields = [f for f in read if f is not None]
        texts = self._texts(requests, fields) if requests else []
        prompts = pl.Series(["\n".join(m["content"] for m in r.messages) for r in requests], dtype=pl.String)
        prompt_tokens = prompts.str.count_matches(TOKEN).to_list()
        completion_tokens = pl.Series(texts, dtype=pl.String).str.count_matches(TOKEN).to_list()
        done = iter(
            GenerationResult(
                request_id=r.request_id, text=t, finish_reason="stop", prompt_tokens=p, completion_tokens=c
            )
            for r, t, p, c in zip(requests, texts, prompt_tokens, completion_tokens, strict=True)
        )
        return [next(done) if f is not None else _not_a_prompt(r.request_id) for r, f in zip(batch, read, strict=True)]

    def _texts(self, requests: Sequence[GenerationRequest], fields: list[generation.PromptFields]) -> list[str]:
        n = len(requests)
        base = _draw_bases([r.seed for r in requests], [r.request_id for r in requests])
        k = np.where(uniform(base, _K) < 0.5, 2, 3)
        chosen, keywords = central_sentences(series([f.passage for f in fields]), k, base)
        top: list[list[str]] = [[] for _ in range(n)]
        for r, word in zip(keywords["row"].to_list(), keywords["word"].to_list(), strict=True):
            top[r].append(word)
        bodies = _bodies(chosen, [f.style for f in fields], base, n)
        draws = {
            slot: uniform(base, slot).tolist()
            for slot in (_KEYWORD, _OPENER, _PREFIX, _OPENER_ON, _LABEL, _CLOSER_ON, _CLOSER)
        }
        texts = []
        for j, f in enumerate(fields):
            keyword = _choice(top[j], draws[_KEYWORD][j]) if top[j] else "this topic"
            audience = f.audience or "reader"
            opener = _choice(_OPENERS.get(f.task, ["{kw}:"]), draws[_OPENER][j])
            if f.task == "question_answering":
                opener = _choice(_QUESTION_PREFIXES, draws[_PREFIX][j]) + opener.split(": ", 1)[-1]
            elif f.task not in _LABELLED_TASKS and draws[_OPENER_ON][j] > OPENER_PROBABILITY:
                opener = ""
            opener = opener.replace("{kw}", keyword).replace("{aud}", audience)
            label = _choice(_LABELLED_TASKS[f.task], draws[_LABEL][j]) if f.task in _LABELLED_TASKS else ""
            closer = (
                _choice(_CLOSERS, draws[_CLOSER][j]).replace("{kw}", keyword)
                if draws[_CLOSER_ON][j] < CLOSER_PROBABILITY
                else ""
            )
            texts.append("\n".join(part for part in (opener, label + bodies[j], closer) if part).strip())
        return texts


def _not_a_prompt(request_id: str) -> GenerationResult:
    return GenerationResult(
        request_id, None, None, error="offline generator: the messages are not a prompt of the generation task"
    )


_CODE_CHARS = r"[{}\[\]()=_<>|`*\\/:]"


class OfflineJudge:
    """Rubric scores from measurable properties; replies in the rubric's JSON shape."""

    name = "offline"

    def __init__(self, model: str | None = None):
        self.model = model or OFFLINE_JUDGE_MODEL

    def grade(self, requests: Sequence[GradeRequest], progress: ProgressCallback | None = None) -> list[GradeResult]:
        results: list[GradeResult] = []
        for start in range(0, len(requests), CHUNK):
            results.extend(self._grade(requests[start : start + CHUNK]))
            if progress:
                progress(len(results), len(requests))
        return results

    def _grade(self, batch: Sequence[GradeRequest]) -> list[GradeResult]:
        inputs = grading.read_many([r.messages for r in batch])
        ours = inputs.get_column("sample_text").is_not_null()
        mine = inputs.filter(ours)
        ok = ours.to_list()
        replies = iter(
            self._replies(
                [r.request_id for r, o in zip(batch, ok, strict=True) if o],
                series(mine.get_column("sample_text").alias("text")),
                mine.get_column("passage"),
            )
        )
        foreign = "offline judge: the messages are not a prompt of the grading task"
        return [
            next(replies) if o else GradeResult(r.request_id, None, error=foreign)
            for r, o in zip(batch, ok, strict=True)
        ]

    def _replies(self, request_ids: list[str], texts: pl.Series, passages: pl.Series) -> list[GradeResult]:
        n = len(request_ids)
        if not n:
            return []
        flagged = flag_batch(texts, passages)
        # At most CHUNK samples, with passages: flag_batch keeps both word frames.
        assert flagged.words is not None and flagged.source_words is not None
        # Support: the share of the sample's content words (with repeats) found in the passage.
        sample_words = flagged.words.filter(content_mask(pl.col("word"))).select("row", "word")
        vocab = flagged.source_words.filter(content_mask(pl.col("word"))).select("row", "word").unique()
        supported = sample_words.join(vocab.with_columns(pl.lit(True).alias("in")), on=["row", "word"], how="left")
        row = supported["row"].to_numpy()
        n_content = np.bincount(row, minlength=n)
        n_supported = np.bincount(row, weights=supported["in"].is_not_null().to_numpy(), minlength=n)
        support = n_supported / np.maximum(1, n_content)
        n_words = whitespace_word_counts(texts).to_numpy().astype(np.int64)
        n_sentences = np.maximum(1, np.bincount(sentence_frame(texts)["row"].to_numpy(), minlength=n))
        mean_sentence = n_words / n_sentences
        flags = flagged.flags
        repetition = np.array(["repetition" in f for f in flags], dtype=bool)
        unsafe = np.array([bool({"prompt_injection", "pii", "refusal"}.intersection(f)) for f in flags], dtype=bool)
        faithfulness = 1 + 9 * support
        correctness = np.minimum(faithfulness, 9.0) - 3 * repetition
        # Helpfulness: an answer of a useful length that does more than copy its source.
        helpfulness = np.where(
            (n_words >= 60) & (n_words <= 260), 9, np.where((n_words >= 35) & (n_words <= 400), 7, 3)
        )
        # Copying long runs of the passage adds little: the more it copies, the less it helps.
        helpfulness = helpfulness - 5 * flagged.copied_share
        # Clarity: prose-shaped sentences; code, markup and URLs read poorly as training prose.
        clarity = np.where(
            (mean_sentence >= 10) & (mean_sentence <= 28),
            9,
            np.where((mean_sentence >= 5) & (mean_sentence <= 45), 6, 3),
        )
        code_share = texts.str.count_matches(_CODE_CHARS).to_numpy() / np.maximum(1, texts.str.len_chars().to_numpy())
        clarity = clarity - np.where(code_share > 0.05, 5, np.where(code_share > 0.03, 3, 0))
        safety = np.where(unsafe, 2, 10)
        scores = {
            "faithfulness": faithfulness,
            "correctness": correctness,
            "helpfulness": helpfulness,
            "clarity": clarity,
            "safety": safety,
        }
        ints = np.stack(
            [np.clip(np.round(scores[c].astype(np.float64)), 1, 10).astype(np.int64) for c in CRITERIA], axis=1
        )
        results = []
        for request_id, values, s, w, m, f in zip(
            request_ids, ints.tolist(), support.tolist(), n_words.tolist(), mean_sentence.tolist(), flags, strict=True
        ):
            rationale = (
                f"offline heuristic judge: {s:.0%} of content words supported by the passage, "
                f"{w} words, {m:.0f} words/sentence, flags={','.join(f) or 'none'}"
            )
            # json.dumps of the reply, spelled out: every value is an int or plain ASCII.
            body = ", ".join(f'"{c}": {v}' for c, v in zip(CRITERIA, values, strict=True))
            results.append(
                GradeResult(
                    request_id=request_id,
                    raw_text=f'{{{body}, "rationale": "{rationale}"}}',
                    extra={HEURISTIC_FLAGS: f},
                )
            )
        return results
