"""Batch scoring: score the sample customers with a model version; predictions land in
BigQuery customer_churn_ds.batch_predictions under this run's pipeline_id.

Trigger with a model version (UI "Trigger DAG w/ config", or the CLI):
    {"model_version": "v20260131t120000"}     # or "latest", or leave it out
Order of precedence: the trigger's model_version, the model_version Airflow variable, latest.
"""

from __future__ import annotations

from airflow.providers.google.cloud.operators.bigquery import BigQueryCheckOperator

from s8s_common import (
    MODELS_ROOT,
    PIPELINE_ID,
    PREDICTIONS_TABLE,
    SCORING_VERSION_PATTERN,
    input_uri,
    lab_batch,
    lab_dag_settings,
)

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10 (Composer 3's default image)
    from airflow.decorators import task
    from airflow.models.dag import DAG

MODEL_VERSION = "{{ params.model_version or var.value.model_version or 'latest' }}"
RESULTS_TABLE = "{{ var.value.project_id }}.{{ var.value.bq_dataset }}." + PREDICTIONS_TABLE

with DAG(
    dag_id="customer-churn-prediction",
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
            # The logical date: a re-run of this run keeps its pipeline_execution_dt.
            "--execution-ts={{ ts }}",
        ],
    )

    # Fails the run when the job wrote no rows for this pipeline_id.
    check_predictions_written = BigQueryCheckOperator(
        task_id="check_predictions_written",
        sql=f"SELECT COUNT(*) AS scored_rows FROM `{RESULTS_TABLE}` WHERE pipeline_id = @pipeline_id",
        query_params=[{"name": "pipeline_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": PIPELINE_ID}}],
        use_legacy_sql=False,
    )

    announce_pipeline(PIPELINE_ID, MODEL_VERSION, RESULTS_TABLE) >> score >> check_predictions_written
