"""Shared by the lab's DAGs: run ids, the Dataproc Serverless batch and its templates, and the
scoring run's reconciliation.

Nothing here touches Airflow variables, the clock, randomness or the network when a DAG file
is parsed: every setting is a template that Airflow renders when a task runs, from the
AIRFLOW_VAR_* environment variables the stack sets (airflow/variables.json lists them).

The same files run on Airflow 3 and on Airflow 2.11 (airflow/composer_images.json). Templates use
only what every run has, `run_id`, `dag_run`, `params`, `ti` and `var`: on Airflow 3 a run
triggered without a logical date (`airflow dags trigger`, which the stack's train_command and
score_command run) has no `ts`, `ds`, `logical_date` or `data_interval_*` in its context, and
templates are StrictUndefined, so using one would fail the task.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# One import for Airflow 3 and 2.11: the common-compat provider, which the Google provider
# itself imports from (so every image with providers-google 22.x has it).
from airflow.providers.common.compat.sdk import Param
from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

# A fixed date in the past: the DAGs only run when triggered (schedule=None, catchup=False).
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# The names the stack, the jobs and these DAGs share (table names, the model path, the version
# pattern, the jobs' archive, the DAG ids), written once in pyspark/s8s_churn/lab_contract.json. The
# stack uploads it beside the DAGs; in the repository airflow/dags/lab_contract.json links to it. A
# local file read when the DAG is parsed, no variable or network access.
CONTRACT: dict[str, Any] = json.loads(Path(__file__).with_name("lab_contract.json").read_text())
DAG_IDS: dict[str, str] = CONTRACT["dag_ids"]
# Where the stack uploads things (lib/stack.ts) and where training registers models.
CODE = "gs://{{ var.value.code_bucket }}/pyspark"
MODELS_ROOT = "gs://{{ var.value.model_bucket }}/" + CONTRACT["models_prefix"]
# The jobs' package, one archive the stack builds from pyspark/s8s_churn/ and uploads beside the
# entry points (lib/archive.ts); Dataproc puts it on the batch's Python path.
JOBS_ARCHIVE = CONTRACT["jobs_archive"]
# The BigQuery tables the scoring job writes (keys of pyspark/s8s_churn/table_schemas.json) and the check reads.
PREDICTIONS_TABLE = CONTRACT["tables"]["predictions"]
REJECTS_TABLE = CONTRACT["tables"]["rejects"]
RUNS_TABLE = CONTRACT["tables"]["runs"]
DRIFT_TABLE = CONTRACT["tables"]["drift"]
DATASET = "{{ var.value.project_id }}.{{ var.value.bq_dataset }}"


def input_uri(sample_file: str) -> str:
    """The run's input_uri param, else the lab's sample file in the data bucket."""
    return "{{ params.input_uri or ('gs://' ~ var.value.data_bucket ~ '/data/" + sample_file + "') }}"


PIPELINE_ID = "{{ pipeline_id_for(run_id) }}"
# Model version names, as pyspark/s8s_churn/registry.py checks them; "latest" only when scoring.
VERSION_PATTERN: str = CONTRACT["model_version_pattern"]
LATEST_VERSION: str = CONTRACT["latest_version"]
SCORING_VERSION_PATTERN = f"^({re.escape(LATEST_VERSION)}|{VERSION_PATTERN.removeprefix('^').removesuffix('$')})$"

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


def run_timestamp(dag_run: Any) -> datetime:
    """When the run stands for: its logical date, or, for an Airflow 3 run triggered without one,
    the time it was triggered for (run_after, which every Airflow 3 run has). Both are stored with
    the run, so a re-run (clearing its tasks) keeps the same timestamp."""
    when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    if when is None:
        raise ValueError(f"DAG run {dag_run.run_id} has neither a logical date nor run_after")
    return when


def run_timestamp_iso(dag_run: Any) -> str:
    """run_timestamp as ISO 8601 text with its offset, e.g. 2026-12-01T09:02:29.303346+00:00."""
    return run_timestamp(dag_run).isoformat()


def default_model_version(dag_run: Any) -> str:
    """The version a training run registers when the trigger names none: v<run timestamp to the
    second>-<8 hex digits of the run id>, e.g. v20261201t090229-1f0c3a9e. Unique per run (two runs
    triggered in the same second differ in their run ids), the same on every attempt, and valid
    for pyspark/s8s_churn/registry.py (at most 63 of [a-z0-9._-])."""
    stamp = run_timestamp(dag_run).strftime("%Y%m%dt%H%M%S")
    return f"v{stamp}-{hashlib.sha256(dag_run.run_id.encode()).hexdigest()[:8]}"


def batch_id_for(kind: str, run_id: str, try_number: int) -> str:
    """Dataproc batch id: 4-63 of [a-z0-9-], one per run and attempt."""
    return f"s8s-{kind}-{pipeline_id_for(run_id)}-a{int(try_number)}"


def batch_id_template(kind: str) -> str:
    """The batch id of a task's current attempt, rendered when the task runs."""
    return "{{ batch_id_for('" + kind + "', run_id, ti.try_number) }}"


MACROS = {
    "pipeline_id_for": pipeline_id_for,
    "batch_id_for": batch_id_for,
    "run_timestamp_iso": run_timestamp_iso,
    "default_model_version": default_model_version,
}


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


# The smallest batch the service runs, and no more: a driver of 4 vCPUs and two executors of 4
# vCPUs, 12 vCPUs of the region's CPUS quota. The pricing page gives exactly this as the minimum a
# batch consumes, 12 DCUs (https://cloud.google.com/dataproc-serverless/pricing); the properties
# set here are those of https://cloud.google.com/dataproc-serverless/docs/concepts/properties.
# Left to its defaults a batch also autoscales (dynamic allocation is on by default:
# https://cloud.google.com/dataproc-serverless/docs/concepts/autoscaling) and may ask for more
# executors than a new project's CPUS quota holds; with it off, the batch keeps 2 executors.
# The disks are 400g, the standard-tier default Google's own batch editor fills in for a 4-core
# driver or executor (GoogleCloudDataproc/dataproc-jupyter-plugin, src/utils/const.ts), stated so
# that the DISKS_TOTAL_GB quota a batch takes is written down.
# The values live in batch_size.json beside this file (uploaded with the DAGs): `npm run preflight`
# reads the same file to check the quota. A local file read, no variable or network access.
BATCH_SIZE: dict[str, str] = json.loads(Path(__file__).with_name("batch_size.json").read_text())["properties"]
# The spark-bigquery connector version every batch runs, pinned with the runtime property Google
# documents for Serverless batches (dataproc.sparkBqConnector.version: the connector's README at tag
# 0.43.1, "Specifying the Spark BigQuery connector version", and
# https://cloud.google.com/dataproc-serverless/docs/guides/bigquery-connector-spark-example). Runtime
# 2.3 ships 0.42.3; pinning 0.43.1 gives the cloud the version the cloud twin builds and runs
# (local/connector), one definition in connectors.json beside this file (uploaded with the DAGs).
CONNECTORS: dict[str, dict[str, str]] = json.loads(Path(__file__).with_name("connectors.json").read_text())
CONNECTOR_PROPERTIES: dict[str, str] = {CONNECTORS["bigquery"]["property"]: CONNECTORS["bigquery"]["version"]}
BATCH_VCPUS = int(BATCH_SIZE["spark.driver.cores"]) + int(BATCH_SIZE["spark.executor.cores"]) * int(
    BATCH_SIZE["spark.executor.instances"]
)


def spark_batch(main_file: str, args: list[str]) -> dict[str, Any]:
    """The Batch resource for a lab job on Dataproc Serverless, on the runtime the
    spark_runtime_version variable names. No connector jar: runtime 2.x ships the BigQuery
    connector, and a second copy on the classpath fails the job ("BigQueryRelationProvider not a
    subtype", kevenpinto/spark-serverless-repo-example#2); its version is chosen by the
    CONNECTOR_PROPERTIES runtime property instead."""
    return {
        "pyspark_batch": {
            "main_python_file_uri": f"{CODE}/{main_file}",
            "python_file_uris": [f"{CODE}/{JOBS_ARCHIVE}"],
            "args": args,
        },
        "runtime_config": {
            "version": "{{ var.value.spark_runtime_version }}",
            "container_image": "{{ var.value.get('container_image_uri', '') }}",
            "properties": {**BATCH_SIZE, **CONNECTOR_PROPERTIES},
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


def reconciliation_sql(dataset: str) -> str:
    """One row for the run @pipeline_id: how many batch_runs rows it has and their counts, and how
    many rows it left in batch_predictions and batch_rejects. `dataset` is project.dataset."""
    runs, predictions, rejects = (f"`{dataset}.{table}`" for table in (RUNS_TABLE, PREDICTIONS_TABLE, REJECTS_TABLE))
    return (
        f"WITH run AS (SELECT batch_id, `read`, scored, rejected FROM {runs} WHERE pipeline_id = @pipeline_id)\n"
        "SELECT\n"
        "  (SELECT COUNT(*) FROM run) AS run_rows,\n"
        "  (SELECT ANY_VALUE(batch_id) FROM run) AS batch_id,\n"
        "  (SELECT ANY_VALUE(`read`) FROM run) AS `read`,\n"
        "  (SELECT ANY_VALUE(scored) FROM run) AS scored,\n"
        "  (SELECT ANY_VALUE(rejected) FROM run) AS rejected,\n"
        f"  (SELECT COUNT(*) FROM {predictions} WHERE pipeline_id = @pipeline_id) AS prediction_rows,\n"
        f"  (SELECT COUNT(*) FROM {rejects} WHERE pipeline_id = @pipeline_id) AS reject_rows"
    )


def reconcile(pipeline_id: str, batch_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """The run's numbers if they add up; otherwise AirflowFailException (a retry would count the same
    rows again) naming every number. They add up when the run has exactly one batch_runs row,
    written by the batch this run submitted, and read = scored + rejected, scored = the run's rows
    in batch_predictions, rejected = its rows in batch_rejects."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    numbers = {"pipeline_id": pipeline_id, **row}
    summary = ", ".join(f"{k}={v}" for k, v in numbers.items())
    problems = []
    if row["run_rows"] != 1:
        problems.append(f"expected 1 {RUNS_TABLE} row for the run, found {row['run_rows']}")
    else:
        if row["batch_id"] != batch_id:
            problems.append(f"the {RUNS_TABLE} row was written by batch {row['batch_id']}, not by this run's batch {batch_id}")
        if row["read"] != row["scored"] + row["rejected"]:
            problems.append(f"read {row['read']} != scored {row['scored']} + rejected {row['rejected']}")
        if row["prediction_rows"] != row["scored"]:
            problems.append(f"{PREDICTIONS_TABLE} holds {row['prediction_rows']} rows, the job scored {row['scored']}")
        if row["reject_rows"] != row["rejected"]:
            problems.append(f"{REJECTS_TABLE} holds {row['reject_rows']} rows, the job rejected {row['rejected']}")
    if problems:
        raise AirflowFailException(f"Run does not reconcile: {'; '.join(problems)} ({summary})")
    return numbers


class LabBatchOperator(DataprocCreateBatchOperator):
    """Submits a lab batch and waits for it.

    Optional settings that render empty (no custom container image) are left out rather than
    sent as "". The provider (22.x) adds the labels airflow-dag-id, airflow-task-id and
    airflow-dag-display-name to the batch and returns the finished batch (Batch.to_dict) as the
    task's XCom, which the scoring DAG's check reads. Before attempt N submits its batch, the batches of attempts
    1..N-1 (their ids differ only in the attempt) must be finished: one still PENDING or RUNNING
    (the task was killed, its worker lost) is cancelled and waited for, so two batches never
    replace the same pipeline_id's rows at the same time.
    """

    # Seconds between polls while an earlier attempt's batch is being cancelled.
    poll_seconds = 10

    def __init__(self, *, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)
        self.batch = prune_empty(self.batch)

    def execute(self, context):
        for attempt in range(context["ti"].try_number - 1, 0, -1):
            self.finish_batch(batch_id_for(self.kind, context["run_id"], attempt))
        return super().execute(context)

    def finish_batch(self, batch_id: str) -> None:
        """Returns once the batch is absent or finished, cancelling it if it still runs."""
        from google.api_core.exceptions import NotFound
        from google.cloud.dataproc_v1 import Batch

        try:
            batch = self.hook.get_batch(batch_id=batch_id, region=self.region, project_id=self.project_id)
        except NotFound:
            self.log.info("Earlier attempt's batch %s was never created", batch_id)
            return
        state = Batch.State(batch.state)
        if state in (Batch.State.SUCCEEDED, Batch.State.FAILED, Batch.State.CANCELLED):
            self.log.info("Earlier attempt's batch %s is finished: %s", batch_id, state.name)
            return
        if state != Batch.State.CANCELLING:
            # Cancelling a batch is cancelling its long-running operation (what
            # `gcloud dataproc batches cancel` does); the batch then goes CANCELLING -> CANCELLED.
            self.log.warning("Earlier attempt's batch %s is %s: cancelling it before submitting", batch_id, state.name)
            self.hook.get_batch_client(self.region).cancel_operation(request={"name": batch.operation})
        batch = self.hook.wait_for_batch(
            batch_id=batch_id, region=self.region, project_id=self.project_id, wait_check_interval=self.poll_seconds
        )
        self.log.info("Earlier attempt's batch %s is now %s", batch_id, Batch.State(batch.state).name)


def lab_batch(task_id: str, kind: str, main_file: str, args: list[str]) -> LabBatchOperator:
    return LabBatchOperator(
        task_id=task_id,
        kind=kind,
        project_id="{{ var.value.project_id }}",
        region="{{ var.value.region }}",
        batch_id=batch_id_template(kind),
        batch=spark_batch(main_file, args),
    )


# The drift check's thresholds: Airflow variables the stack sets (airflow/variables.json
# "defaults": 0.1 and 0.25, the PSI convention: below 0.1 no significant shift, 0.1-0.25 moderate,
# 0.25 or more significant; Siddiqi, "Credit Risk Scorecards", 2006; Yurdakul 2018). The scoring
# job gets the same values (--drift-moderate/--drift-high) for its batch_runs.drift_status.
DRIFT_MODERATE = "{{ var.value.drift_psi_moderate }}"
DRIFT_HIGH = "{{ var.value.drift_psi_high }}"
# The promotion gate's settings, Airflow variables the stack sets (airflow/variables.json
# "defaults", the same as model_training.py's own): a newly trained version becomes what `latest`
# scores with only if its held-out AUC is at least the floor and at most the drop below the
# promoted version's.
PROMOTION_MIN_AUC = "{{ var.value.promotion_min_auc }}"
PROMOTION_MAX_AUC_DROP = "{{ var.value.promotion_max_auc_drop }}"


def drift_sql(dataset: str) -> str:
    """The run's drift_status and its batch_drift rows, worst first (one row with NULL feature
    figures when the run measured none). `dataset` is project.dataset."""
    runs, drift = (f"`{dataset}.{table}`" for table in (RUNS_TABLE, DRIFT_TABLE))
    return (
        "SELECT r.drift_status, d.feature, d.kind, d.`rows`, d.psi, d.js_distance, d.largest_shift\n"
        f"FROM {runs} AS r LEFT JOIN {drift} AS d ON d.pipeline_id = r.pipeline_id\n"
        "WHERE r.pipeline_id = @pipeline_id\n"
        "ORDER BY d.psi DESC, d.feature"
    )


def psi_threshold(name: str, value: Any) -> float:
    """A PSI threshold variable as a number, or AirflowFailException naming it."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0:
        raise AirflowFailException(f"Airflow variable {name} is {value!r}; expected a PSI above 0 such as 0.1 or 0.25")
    return number


def judge_drift(pipeline_id: str, rows: list[dict[str, Any]], moderate: Any, high: Any, log: Any) -> dict[str, Any]:
    """Warns about each feature at or above the moderate PSI, and fails the run (AirflowFailException,
    as a retry measures the same rows) naming each feature at or above the high PSI with its
    figures. A run scored with a model version that has no baseline passes with a warning."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    moderate_psi = psi_threshold("drift_psi_moderate", moderate)
    high_psi = psi_threshold("drift_psi_high", high)
    if moderate_psi > high_psi:
        raise AirflowFailException(
            f"drift_psi_moderate {moderate_psi} is above drift_psi_high {high_psi}; expected moderate <= high"
        )
    if not rows:
        raise AirflowFailException(f"no {RUNS_TABLE} row for pipeline_id={pipeline_id}: the run's drift was never recorded")
    status = rows[0]["drift_status"]
    if status == "no_baseline":
        log.warning("no baseline: the run's model version predates drift baselines; drift not checked for %s", pipeline_id)
        return {"pipeline_id": pipeline_id, "drift_status": status, "high": [], "moderate": []}
    measured = [r for r in rows if r["feature"] is not None]
    if not measured:
        raise AirflowFailException(f"{DRIFT_TABLE} has no rows for pipeline_id={pipeline_id} though drift_status is {status!r}")

    def figures(r: dict[str, Any]) -> str:
        return f"{r['feature']} (psi={r['psi']:.4f}, js_distance={r['js_distance']:.4f}, largest shift {r['largest_shift']})"

    high_rows = [r for r in measured if r["psi"] >= high_psi]
    moderate_rows = [r for r in measured if moderate_psi <= r["psi"] < high_psi]
    for r in moderate_rows:
        log.warning("moderate drift (psi >= %s): %s", moderate_psi, figures(r))
    if high_rows:
        raise AirflowFailException(
            f"Input drifted from the model's training data (psi >= {high_psi}) in {len(high_rows)} feature(s) of "
            f"pipeline_id={pipeline_id}: " + "; ".join(figures(r) for r in high_rows)
        )
    return {
        "pipeline_id": pipeline_id,
        "drift_status": status,
        "features": len(measured),
        "max_psi": max(r["psi"] for r in measured),
        "high": [],
        "moderate": [r["feature"] for r in moderate_rows],
    }
