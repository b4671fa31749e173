"""The executor is chosen when a run starts: run config, else SYNTH_EXECUTOR, else in-process."""

import os

import pytest
from dagster import DagsterInstance, job, op, reconstructable
from dagster._core.execution.api import execute_job

from synth_pipeline.defs.executor import ExecutorChoiceError, chosen_kind, synth_executor


@op
def where_am_i() -> int:
    return os.getpid()


@job(executor_def=synth_executor)
def pid_job():
    where_am_i()


@pytest.mark.unit
def test_kind_comes_from_config_then_environment_then_default():
    assert chosen_kind({}, {}) == "in_process"
    assert chosen_kind({}, {"SYNTH_EXECUTOR": "multiprocess"}) == "multiprocess"
    assert chosen_kind({"kind": "celery"}, {"SYNTH_EXECUTOR": "multiprocess"}) == "celery"
    with pytest.raises(ExecutorChoiceError, match="SYNTH_EXECUTOR"):
        chosen_kind({}, {"SYNTH_EXECUTOR": "threads"})


def _step_pid(tmp_path, run_config, monkeypatch, environ=None):
    for key, value in (environ or {}).items():
        monkeypatch.setenv(key, value)
    tmp_path.mkdir(parents=True, exist_ok=True)
    with (
        DagsterInstance.local_temp(str(tmp_path)) as instance,
        execute_job(reconstructable(pid_job), instance=instance, run_config=run_config) as result,
    ):
        return result.success, result.output_for_node("where_am_i") if result.success else None


@pytest.mark.graph
def test_the_run_worker_builds_the_chosen_executor(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNTH_EXECUTOR", raising=False)
    ok, pid = _step_pid(tmp_path / "a", {}, monkeypatch)
    assert ok and pid == os.getpid()  # in-process: the step ran here
    ok, pid = _step_pid(tmp_path / "b", {}, monkeypatch, {"SYNTH_EXECUTOR": "multiprocess"})
    assert ok and pid != os.getpid()  # multiprocess: a child process ran it
    ok, pid = _step_pid(tmp_path / "c", {"execution": {"config": {"kind": "in_process"}}}, monkeypatch)
    assert ok and pid == os.getpid()  # run config wins over the environment


@pytest.mark.graph
def test_a_bad_choice_fails_the_run_before_any_step(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_EXECUTOR", "threads")
    with pytest.raises(ExecutorChoiceError, match="threads"):
        _step_pid(tmp_path, {}, monkeypatch)
    monkeypatch.setenv("SYNTH_EXECUTOR", "celery")
    monkeypatch.delenv("SYNTH_CELERY_BROKER", raising=False)
    with pytest.raises(ExecutorChoiceError, match="broker"):
        _step_pid(tmp_path / "b", {}, monkeypatch)
