"""Shared by the lab's DAGs: run ids, the Dataproc Serverless batch, and its templates.

Nothing here touches Airflow variables, the clock, randomness or the network when a DAG file
is parsed: every setting is a template that Airflow renders when a task runs, from the
AIRFLOW_VAR_* environment variables the stack sets (airflow/variables.json lists them).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

try:  # Airflow 3
    from airflow.sdk import Param
except ImportError:  # Airflow 2.10 (Composer 3's default image)
    from airflow.models.param import Param

# A fixed date in the past: the DAGs only run when triggered (schedule=None, catchup=False).
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Where the stack uploads things (lib/stack.ts) and where training registers models.
CODE = "gs://{{ var.value.code_bucket }}/pyspark"
MODELS_ROOT = "gs://{{ var.value.model_bucket }}/churn-model"
# The modules the jobs import, every pyspark/lab_*.py (the Airflow suite checks the list is whole).
JOB_MODULES = [f"lab_{name}.py" for name in ("contract", "features", "job", "model", "registry", "sinks", "validation")]
PREDICTIONS_TABLE = "batch_predictions"


def input_uri(sample_file: str) -> str:
    """The run's input_uri param, else the lab's sample file in the data bucket."""
    return "{{ params.input_uri or ('gs://' ~ var.value.data_bucket ~ '/data/" + sample_file + "') }}"


PIPELINE_ID = "{{ pipeline_id_for(run_id) }}"
# Model version names, as pyspark/lab_registry.py checks them; "latest" only when scoring.
VERSION_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
SCORING_VERSION_PATTERN = r"^(latest|[a-z0-9][a-z0-9._-]{0,62})$"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "s8s-lab",
    # A retry gets a new batch id (the attempt is part of it), so it runs a new batch
    # instead of attaching to the failed one. It also rides out IAM propagation after deploy.
    "retries": 1,
    "retry_delay": timedelta(minutes=2),
}


def pipeline_id_for(run_id: str) -> str:
    """A readable id for a DAG run: [a-z0-9-], at most 40 characters, the same every time the
    run is rendered, different for every run (a hash of the whole run id ends it)."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:31].strip("-") or "run"
    return f"{slug}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def batch_id_for(kind: str, run_id: str, try_number: int) -> str:
    """Dataproc batch id: 4-63 of [a-z0-9-], one per run and attempt."""
    return f"s8s-{kind}-{pipeline_id_for(run_id)}-a{int(try_number)}"


MACROS = {"pipeline_id_for": pipeline_id_for, "batch_id_for": batch_id_for}


def lab_dag_settings(version_pattern: str, version_help: str, input_help: str) -> dict[str, Any]:
    """What both lab DAGs share: they run only when triggered, one run at a time, and take an
    optional model_version and input_uri in the trigger's conf (checked before the run starts)."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "user_defined_macros": MACROS,
        "params": {
            "model_version": Param(None, type=["null", "string"], pattern=version_pattern, description=version_help),
            "input_uri": Param(None, type=["null", "string"], pattern=r"^gs://", description=input_help),
        },
    }


def spark_batch(main_file: str, args: list[str]) -> dict[str, Any]:
    """The Batch resource for a lab job on Dataproc Serverless runtime 2.2."""
    return {
        "pyspark_batch": {
            "main_python_file_uri": f"{CODE}/{main_file}",
            "python_file_uris": [f"{CODE}/{name}" for name in JOB_MODULES],
            "file_uris": [f"{CODE}/table_schemas.json"],
            # Runtime 2.2 ships the BigQuery connector; an extra jar only when configured.
            "jar_file_uris": ["{{ var.value.bq_connector_jar_uri }}"],
            "args": args,
        },
        "runtime_config": {
            "version": "{{ var.value.spark_runtime_version }}",
            "container_image": "{{ var.value.container_image_uri }}",
        },
        "environment_config": {
            "execution_config": {
                "service_account": "{{ var.value.umsa_fqn }}",
                "subnetwork_uri": "{{ var.value.subnet }}",
                # A lab bucket: the staging bucket Dataproc would create survives destroy.
                "staging_bucket": "{{ var.value.spark_bucket }}",
            },
            "peripherals_config": {
                "spark_history_server_config": {
                    "dataproc_cluster": "projects/{{ var.value.project_id }}/regions/{{ var.value.region }}"
                    "/clusters/{{ var.value.phs_server }}",
                },
            },
        },
    }


def prune_empty(value: Any) -> Any:
    """Drops settings that rendered empty, so the API applies its own default for them."""
    if isinstance(value, dict):
        pruned = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [prune_empty(v) for v in value if v not in ("", None)]
    return value


class LabBatchOperator(DataprocCreateBatchOperator):
    """Submits a lab batch and waits for it. Optional settings that render empty (no custom
    container image, no extra connector jar) are left out rather than sent as ""."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)
        self.batch = prune_empty(self.batch)


def lab_batch(task_id: str, kind: str, main_file: str, args: list[str]) -> LabBatchOperator:
    return LabBatchOperator(
        task_id=task_id,
        project_id="{{ var.value.project_id }}",
        region="{{ var.value.region }}",
        batch_id="{{ batch_id_for('" + kind + "', run_id, ti.try_number) }}",
        batch=spark_batch(main_file, args),
    )
