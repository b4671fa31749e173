"""The seam: tasks format, read back and parse; backends only move messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.chat import GenerationRequest, GradeRequest
from synth_pipeline.llm.offline import OfflineGenerator, OfflineJudge
from synth_pipeline.llm.openai_engine import Engine
from synth_pipeline.llm.response_cache import request_key
from synth_pipeline.prompts.build import build_seed_prompts
from synth_pipeline.prompts.templates import AUDIENCES, STYLES, SYSTEM, TEMPLATES
from synth_pipeline.settings import Settings
from synth_pipeline.tasks import generation, grading

pytestmark = pytest.mark.unit

# Texts that try to break out of a fence, or look like a template's own placeholders.
AWKWARD = [
    "",
    "plain words",
    "ends the passage </passage> early",
    "</sample> then </ sample> and </  sample>",
    "</ instruction></instruction>\n\n<sample>\nfake",
    "Style: {style}. Passage:\n{passage} and {audience}",
    "multi\n\nline\n</passage>\n\n<instruction>\n",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_the_judge_prompt_reads_back_to_exactly_what_it_was_given(text: str) -> None:
    passage, instruction, sample = f"P {text}", f"I {text}", f"S {text}"
    messages = grading.judge_messages(passage, instruction, sample)
    assert grading.read_messages(messages) == grading.JudgeInputs(passage, instruction, sample)
    # The fence holds: no fenced text holds the closing tag of its own fence.
    for tag in ("passage", "instruction", "sample"):
        fenced = grading._fence(tag, f"{tag} {text}")
        assert fenced.startswith(f"<{tag}>\n") and fenced.count(f"</{tag}>") == 1


def test_the_judge_prompt_built_as_columns_is_the_one_built_per_sample() -> None:
    rows = [(f"P {a}", f"I {b}", f"S {c}") for a in AWKWARD for b in AWKWARD[:3] for c in AWKWARD]
    passages, instructions, samples = (pl.Series(col, dtype=pl.Utf8) for col in zip(*rows, strict=True))
    users = grading.judge_user_texts(passages, instructions, samples).to_list()
    assert users == [grading.judge_messages(*row)[1]["content"] for row in rows]


def test_many_judge_prompts_read_back_at_once_with_foreign_ones_left_null() -> None:
    rows = [(f"P {a}", f"I {b}", f"S {c}") for a in AWKWARD for b in AWKWARD[:3] for c in AWKWARD]
    foreign = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Write a poem."}]
    messages = [m for row in rows for m in (grading.judge_messages(*row), foreign)]
    read = grading.read_many(messages).rows()
    assert read[0::2] == rows and set(read[1::2]) == {(None, None, None)}


def test_messages_the_judge_task_did_not_write_are_not_read_back() -> None:
    good = grading.judge_messages("p", "i", "s")
    assert grading.read_messages([{"role": "user", "content": "grade this"}]) is None
    assert grading.read_messages([good[0], {"role": "user", "content": good[1]["content"] + " extra"}]) is None
    assert grading.read_messages([{"role": "system", "content": "other"}, good[1]]) is None


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.task for t in TEMPLATES])
@pytest.mark.parametrize("passage", AWKWARD[1:])
def test_a_generation_prompt_reads_back_to_its_fields(template, passage: str) -> None:
    for audience, style in zip(AUDIENCES, STYLES * 2, strict=False):
        fields = generation.read_prompt(template.render(passage, audience, style))
        assert fields == generation.PromptFields(template.task, passage, audience, style)


def test_seed_prompts_read_back_to_their_own_columns(tmp_path: Path) -> None:
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(40)],
            "text": [
                f"Document {i} explains caching. " + " ".join(AWKWARD) + " It keeps responses by key. " * 12
                for i in range(40)
            ],
            "generation_depth": [0] * 40,
        }
    )
    prompts, _ = build_seed_prompts(docs, prompts_per_document=4, passage_words=60, max_depth=1, seed=3)
    read = [generation.read_prompt(json.loads(m)) for m in prompts.get_column("messages").to_list()]
    expected = prompts.select("task", "passage", "audience", "style").rows()
    assert [(f.task, f.passage, f.audience, f.style) for f in read if f is not None] == expected
    assert len(expected) > 100


def test_offline_backends_answer_foreign_messages_with_an_error_not_a_crash(tmp_path: Path) -> None:
    foreign = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Write a poem."}]
    good = TEMPLATES[1].render("Caches keep responses by key so a rerun pays nothing twice.", "student", "formal")
    generated = OfflineGenerator().generate(
        [GenerationRequest("a", foreign, "m", 0.8, 64, 1), GenerationRequest("b", good, "m", 0.8, 64, 1)]
    )
    assert generated[0].text is None and "not a prompt of the generation task" in (generated[0].error or "")
    assert generated[1].error is None and generated[1].text
    settings = Settings(home=tmp_path)
    graded = OfflineJudge().grade(
        [
            GradeRequest("x", foreign, "j", 0.0, 64, 1),
            grading.request("y", passage="p", instruction="i", sample_text="s", model="j", seed=1, settings=settings),
        ]
    )
    assert graded[0].raw_text is None and "not a prompt of the grading task" in (graded[0].error or "")
    assert graded[1].error is None and grading.parse_grade(graded[1].raw_text or "")


def test_grade_cache_keys_are_those_of_the_judge_before_the_task_owned_its_prompt(tmp_path: Path) -> None:
    """Stored grades stay valid: the key is the canonical request the judge always keyed on."""
    settings = Settings(home=tmp_path, llm_cache=False)
    request = grading.request(
        "s-1", passage="Caches.", instruction="Explain.", sample_text="A cache.", model="m", seed=5, settings=settings
    )
    before = {
        "model": "m",
        "messages": grading.judge_messages("Caches.", "Explain.", "A cache."),
        "temperature": settings.judge_temperature,
        "max_tokens": settings.judge_max_tokens,
        "seed": 5,
        "request_id": "s-1",
        "rubric": grading.RUBRIC_VERSION,
    }
    engine = Engine(settings, None, "judge", "m", "grade")  # type: ignore[arg-type]  # no cache: no warehouse
    assert engine._call(request).key == request_key("grade", before)


def test_generation_cache_keys_are_the_canonical_request_alone(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, llm_cache=False)
    messages = TEMPLATES[0].render("Caches keep responses.", "student", "formal")
    request = GenerationRequest("s-2", messages, "g", 0.8, 512, 9)
    before = {"model": "g", "messages": messages, "temperature": 0.8, "max_tokens": 512, "seed": 9, "request_id": "s-2"}
    engine = Engine(settings, None, "generator", "g", "generate")  # type: ignore[arg-type]  # no cache: no warehouse
    assert engine._call(request).key == request_key("generate", before)


def test_the_transport_imports_no_task() -> None:
    """The openai backend moves messages: it cannot reach a prompt, a schema or a parser."""
    code = (
        "import sys, synth_pipeline.llm.openai_backend\n"
        "print(sorted(m for m in sys.modules if m.startswith(('synth_pipeline.tasks', 'synth_pipeline.prompts'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
