"""deploy/: the Dagster instance file, the Celery executor block and the Helm values agree and hold no secret."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
VALUES = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((DEPLOY / "dagster" / "dagster.yaml").read_text())
CELERY = yaml.safe_load((DEPLOY / "dagster" / "celery.yaml").read_text())
# The Kubernetes objects values.yaml expects to exist (created by the operator, never in the chart values).
LAKE_SECRETS = {"synth-lake-catalog", "synth-lake-s3"}
ENV_MAP = "synth-env"


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, str(i)))
    else:
        yield path, node


def _names(items) -> set[str]:
    return {item["name"] for item in items or []}


def test_no_secret_value_is_written_in_deploy() -> None:
    for document in (VALUES, INSTANCE, CELERY):
        for path, value in _leaves(document):
            if isinstance(value, str) and any(w in path[-1].lower() for w in ("password", "secretkey", "token")):
                assert value == "", f"{'.'.join(path)} holds a literal credential"
            if isinstance(value, str):
                assert "://" not in value or "@" not in value, f"{'.'.join(path)} holds a URL with credentials"


def test_instance_storage_reads_every_value_from_the_environment_with_the_psycopg2_scheme(monkeypatch) -> None:
    from dagster._config import process_config
    from dagster._core.storage.config import pg_config
    from sqlalchemy.engine import make_url

    storage = copy.deepcopy(INSTANCE["storage"]["postgres"])
    db = storage["postgres_db"]
    assert db.pop("scheme") == "postgresql+psycopg2" == VALUES["postgresql"]["postgresqlScheme"]
    assert all(set(v) == {"env"} for v in db.values()), "host, port, database, user and password come from env"
    for i, source in enumerate(db.values()):
        monkeypatch.setenv(source["env"], str(5432 + i) if source["env"].endswith("PORT") else f"v{i}")
    resolved = process_config(pg_config(), storage)
    assert resolved.success, resolved.errors
    # Why the scheme is spelled out: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
    assert make_url("postgresql+psycopg2://u@h/d").get_dialect().driver == "psycopg2"
    assert make_url("postgresql://u@h/d").get_dialect().driver != "psycopg2"


def test_celery_block_and_helm_values_use_one_broker_and_the_dagster_queue() -> None:
    config = CELERY["execution"]["config"]
    assert config["broker"] == {"env": "DAGSTER_CELERY_BROKER_URL"}
    assert config["backend"] == {"env": "DAGSTER_CELERY_BACKEND_URL"}
    launcher = VALUES["runLauncher"]
    assert launcher["type"] == "CeleryK8sRunLauncher"
    queues = launcher["config"]["celeryK8sRunLauncher"]["workerQueues"]
    # dagster_celery routes every step to the queue named "dagster".
    assert [q["name"] for q in queues] == ["dagster"] and queues[0]["replicaCount"] >= 2
    assert VALUES["redis"]["brokerDbNumber"] != VALUES["redis"]["backendDbNumber"]
    assert VALUES["generateCeleryConfigSecret"] is False and VALUES["global"]["celeryConfigSecretName"]
    user_env = {e["name"]: e for e in VALUES["dagster-user-deployments"]["deployments"][0]["env"]}
    for name in ("DAGSTER_CELERY_BROKER_URL", "DAGSTER_CELERY_BACKEND_URL"):
        ref = user_env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": VALUES["global"]["celeryConfigSecretName"], "key": name}


def test_every_pod_that_runs_steps_gets_the_lake_settings_and_credentials() -> None:
    deployment = VALUES["dagster-user-deployments"]["deployments"][0]
    launcher = VALUES["runLauncher"]["config"]["celeryK8sRunLauncher"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "synth_pipeline.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    for pod in (deployment, launcher):
        assert _names(pod["envSecrets"]) >= LAKE_SECRETS
        assert ENV_MAP in _names(pod["envConfigMaps"])
    for pod in (VALUES["dagsterWebserver"], VALUES["dagsterDaemon"]):
        assert ENV_MAP in _names(pod["envConfigMaps"])
    assert VALUES["postgresql"]["enabled"] is False and VALUES["generatePostgresqlPasswordSecret"] is False


def _chart() -> Path:
    folder = os.environ.get("SYNTH_HELM_CHART")
    if not folder or not (Path(folder) / "values.schema.json").is_file():
        pytest.skip(
            "set SYNTH_HELM_CHART to an unpacked chart (`helm pull dagster/dagster --version 1.13.27 --untar`) "
            "to validate against its values.schema.json"
        )
    return Path(folder)


def _merge(base: dict, override: dict) -> dict:
    """Helm's merge of user values over chart defaults: maps merge key by key, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _offline(node):
    """Drop the remote references (Kubernetes object schemas on kubernetesjsonschema.dev): accepted as-is offline."""
    if isinstance(node, dict):
        return {k: _offline(v) for k, v in node.items() if not (k == "$ref" and str(v).startswith("http"))}
    if isinstance(node, list):
        return [_offline(v) for v in node]
    return node


def test_values_validate_against_the_official_chart_schema() -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (dev extra) validates the Helm values")
    chart = _chart()
    schema = json.loads((chart / "values.schema.json").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(_offline(schema))
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(_merge(defaults, VALUES))]
    assert errors == []
    broken = _merge(defaults, VALUES)
    broken["redis"]["brokerDB"] = 0  # a typo the chart would otherwise ignore silently
    assert any("brokerDB" in e.message for e in validator.iter_errors(broken))
