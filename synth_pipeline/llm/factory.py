"""Pick the generator and judge the settings ask for."""

from __future__ import annotations

from synth_pipeline.chat import GeneratorBackend, JudgeBackend
from synth_pipeline.llm.offline import OfflineGenerator, OfflineJudge
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse


def make_generator(settings: Settings, warehouse: Warehouse) -> GeneratorBackend:
    if settings.llm_backend == "offline":
        return OfflineGenerator(settings.generator_model)
    from synth_pipeline.llm.openai_backend import OpenAIGenerator

    return OpenAIGenerator(settings, warehouse)


def make_judge(settings: Settings, warehouse: Warehouse) -> JudgeBackend:
    if settings.llm_backend == "offline":
        return OfflineJudge(settings.judge_model)
    from synth_pipeline.llm.openai_backend import OpenAIJudge

    return OpenAIJudge(settings, warehouse)
