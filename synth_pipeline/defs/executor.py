"""The executor of every job: in-process, multiprocess or Celery, chosen when a run starts.

The choice is run config (``execution: {config: {kind: celery, broker: ..., backend: ...}}``) or,
left unset, ``SYNTH_EXECUTOR`` / ``SYNTH_CELERY_BROKER`` / ``SYNTH_CELERY_BACKEND`` read by the run
worker when it builds the executor: never when the code location loads, so one code location
serves an embedded run and a Celery deployment alike. The Celery keys are dagster-celery's own, so
``deploy/dagster/celery.yaml`` is both the workers' ``-y`` file and valid run config here.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import Executor, Field, InitExecutorContext, Noneable, executor, in_process_executor, multiprocess_executor

try:  # the `celery` extra; the schema only: importing it starts no Celery app
    from dagster_celery.executor import CELERY_CONFIG
except ImportError:  # an install without the extra: in-process and multiprocess runs only
    CELERY_CONFIG = {}

KINDS = ("in_process", "multiprocess", "celery")
"""The values ``SYNTH_EXECUTOR`` and the ``kind`` key may take; ``in_process`` is the default."""


class ExecutorChoiceError(ValueError):
    """The executor named in run config or ``SYNTH_EXECUTOR`` is not one of :data:`KINDS`, or lacks a broker."""


def chosen_kind(config: dict[str, Any], environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """The run config's ``kind``, else ``SYNTH_EXECUTOR``, else ``in_process``; any other value is an error."""
    kind = config.get("kind") or environ.get("SYNTH_EXECUTOR") or "in_process"
    source = "run config execution.config.kind" if config.get("kind") else "environment variable SYNTH_EXECUTOR"
    if kind not in KINDS:
        raise ExecutorChoiceError(f"executor {kind!r} (from {source}) is not one of {', '.join(KINDS)}")
    return kind


def _delegate(context: InitExecutorContext, definition: Any, config: dict[str, Any]) -> Executor:
    """The executor ``definition`` builds from ``config``, after the config is checked against its schema."""
    from dagster._config import process_config

    result = process_config(definition.config_schema.config_type, config)
    if not result.success:
        problems = [e.message for e in result.errors or []]
        raise ExecutorChoiceError(f"{definition.name} executor config {config!r}: {problems}")
    sub = InitExecutorContext(
        job=context.job, executor_def=definition, executor_config=result.value or {}, instance=context.instance
    )
    built: Executor = definition.executor_creation_fn(sub)
    return built


@executor(
    name="synth",
    config_schema={
        "kind": Field(
            Noneable(str),
            is_required=False,
            description="in_process | multiprocess | celery (unset: SYNTH_EXECUTOR)",
        ),
        "max_concurrent": Field(Noneable(int), is_required=False, description="multiprocess: processes at once"),
        **CELERY_CONFIG,
    },
)
def synth_executor(context: InitExecutorContext) -> Executor:
    """Build the chosen executor in the run worker; the in-process one unless told otherwise."""
    config = dict(context.executor_config)
    kind = chosen_kind(config)
    if kind == "in_process":
        return _delegate(context, in_process_executor, {})
    if kind == "multiprocess":
        limit = config.get("max_concurrent")
        return _delegate(context, multiprocess_executor, {} if limit is None else {"max_concurrent": limit})
    if not CELERY_CONFIG:
        raise ExecutorChoiceError("the celery executor needs dagster-celery: pip install 'synth_pipeline[celery]'")
    from dagster_celery import celery_executor  # only a Celery run needs the Celery app

    celery = {k: config[k] for k in CELERY_CONFIG if config.get(k) is not None}
    celery.setdefault("broker", os.environ.get("SYNTH_CELERY_BROKER"))
    backend = os.environ.get("SYNTH_CELERY_BACKEND")
    if backend and config.get("backend") in (None, "rpc://"):  # rpc:// is the schema's default
        celery["backend"] = backend
    if not celery.get("broker"):
        raise ExecutorChoiceError("celery executor needs a broker: execution.config.broker or SYNTH_CELERY_BROKER")
    return _delegate(context, celery_executor, celery)
