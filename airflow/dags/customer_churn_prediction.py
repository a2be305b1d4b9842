"""Batch scoring: score the sample customers with a model version; predictions land in
BigQuery customer_churn_ds.batch_predictions under this run's pipeline_id, rejected rows in
batch_rejects, and the run's counts in batch_runs. A task then reconciles the three in BigQuery, and
the last one checks the run's drift from the model's training data (batch_drift): it warns at the
drift_psi_moderate variable's PSI and fails the run at drift_psi_high's.

Trigger with a model version (UI "Trigger DAG w/ config", or the CLI):
    {"model_version": "v20260131t120000"}     # or `latest`, or leave it out
Order of precedence: the trigger's model_version, the model_version Airflow variable, latest.
"""

from __future__ import annotations

from typing import Any

# One import for Airflow 3 and 2.11: the common-compat provider, which the Google provider
# itself imports from (so every image with providers-google 22.x has it).
from airflow.providers.common.compat.sdk import DAG, task
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

from s8s_common import (
    DAG_IDS,
    DATASET,
    DRIFT_HIGH,
    DRIFT_MODERATE,
    LATEST_VERSION,
    MODELS_ROOT,
    PIPELINE_ID,
    PREDICTIONS_TABLE,
    SCORING_VERSION_PATTERN,
    batch_id_template,
    drift_sql,
    input_uri,
    judge_drift,
    lab_batch,
    lab_dag_settings,
    reconcile,
    reconciliation_sql,
)

MODEL_VERSION = "{{ params.model_version or var.value.model_version or '" + LATEST_VERSION + "' }}"
RESULTS_TABLE = f"{DATASET}.{PREDICTIONS_TABLE}"
BATCH_ID = batch_id_template("score")

with DAG(
    dag_id=DAG_IDS["scoring"],
    description="Score customers for churn on Dataproc Serverless; results in BigQuery by pipeline_id",
    schedule=None,
    **lab_dag_settings(
        SCORING_VERSION_PATTERN,
        version_help="Model version to score with; empty: the model_version variable, else latest",
        input_help="Customer CSV to score; empty: the lab's sample input",
    ),
    tags=["s8s", "scoring"],
) as dag:

    @task(task_id="announce_pipeline")
    def announce_pipeline(pipeline_id: str, model_version: str, table: str) -> str:
        """Logs what the seed's section 7.5 asks the user to look up."""
        print(f"pipeline_id: {pipeline_id}")
        print(f"model_version requested: {model_version}")
        print(f"results: SELECT * FROM `{table}` WHERE pipeline_id = '{pipeline_id}'")
        return pipeline_id

    @task(task_id="check_predictions_written")
    def check_predictions_written(scored_batch: dict[str, Any], pipeline_id: str, dataset: str, project: str, location: str):
        """Reconciles the run in BigQuery, where its rows landed: one parameterized query (a plain
        BigQueryHook job; BigQueryCheckOperator sends query_params only when deferrable, and this
        environment has no triggerer), then every count is compared to the run's batch_runs row."""
        job = BigQueryHook(location=location, use_legacy_sql=False).insert_job(
            configuration={
                "query": {
                    "query": reconciliation_sql(dataset),
                    "useLegacySql": False,
                    "queryParameters": [
                        {"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": pipeline_id}}
                    ],
                }
            },
            project_id=project,
            location=location,
        )
        row = dict(next(iter(job.result())).items())
        numbers = reconcile(pipeline_id, scored_batch["name"].rsplit("/", 1)[-1], row)
        print("RECONCILED " + ", ".join(f"{k}={v}" for k, v in numbers.items()))
        return numbers

    @task(task_id="check_drift")
    def check_drift(reconciled: dict[str, Any], dataset: str, project: str, location: str, moderate: str, high: str):
        """Reads the reconciled run's drift rows (one parameterized query) and judges them."""
        import logging

        pipeline_id = reconciled["pipeline_id"]
        job = BigQueryHook(location=location, use_legacy_sql=False).insert_job(
            configuration={
                "query": {
                    "query": drift_sql(dataset),
                    "useLegacySql": False,
                    "queryParameters": [
                        {"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": pipeline_id}}
                    ],
                }
            },
            project_id=project,
            location=location,
        )
        rows = [dict(r.items()) for r in job.result()]
        verdict = judge_drift(pipeline_id, rows, moderate, high, logging.getLogger("s8s.drift"))
        print("DRIFT " + ", ".join(f"{k}={v}" for k, v in verdict.items()))
        return verdict

    score = lab_batch(
        task_id="Predict-Customer-Churn",
        kind="score",
        main_file="batch_scoring.py",
        args=[
            f"--pipeline-id={PIPELINE_ID}",
            f"--model-version={MODEL_VERSION}",
            "--input=" + input_uri("scoring.csv"),
            f"--models-root={MODELS_ROOT}",
            "--sink=bigquery",
            "--project={{ var.value.project_id }}",
            "--dataset={{ var.value.bq_dataset }}",
            "--temp-bucket={{ var.value.spark_bucket }}",
            # The run's logical date, else (Airflow 3, triggered without one) its run_after:
            # stored with the run, so a re-run keeps its pipeline_execution_dt.
            "--execution-ts={{ run_timestamp_iso(dag_run) }}",
            # The run's batch_runs row names the batch that wrote it; the check compares it.
            f"--batch-id={BATCH_ID}",
            # The drift check's thresholds, for the run's batch_runs.drift_status.
            f"--drift-moderate={DRIFT_MODERATE}",
            f"--drift-high={DRIFT_HIGH}",
        ],
    )

    checked = check_predictions_written(
        scored_batch=score.output,
        pipeline_id=PIPELINE_ID,
        dataset=DATASET,
        project="{{ var.value.project_id }}",
        location="{{ var.value.region }}",
    )

    drift_checked = check_drift(
        reconciled=checked,
        dataset=DATASET,
        project="{{ var.value.project_id }}",
        location="{{ var.value.region }}",
        moderate=DRIFT_MODERATE,
        high=DRIFT_HIGH,
    )

    announce_pipeline(PIPELINE_ID, MODEL_VERSION, RESULTS_TABLE) >> score >> checked >> drift_checked
