"""Dagster wiring only: each module turns one stage's domain logic into assets and checks.

The logic itself lives in the domain packages (``corpus``, ``prompts``, ``tasks``, ``llm``,
``dedup``, ``mix``, ``metrics``, ``report``, ``release``), which import no dagster; storage
is ``synth_pipeline.storage``. ``synth_pipeline/definitions.py`` loads this folder.
"""
