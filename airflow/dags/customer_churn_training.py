"""Training: train the churn model on the lab's training sample as a Dataproc Serverless batch
and register it as a new model version, which the scoring DAG's "latest" then picks.

The version is v<logical date>, e.g. v20260131t120000, unless the trigger names one:
    {"model_version": "my-version"}
"""

from __future__ import annotations

from s8s_common import MODELS_ROOT, VERSION_PATTERN, input_uri, lab_batch, lab_dag_settings

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10 (Composer 3's default image)
    from airflow.models.dag import DAG

with DAG(
    dag_id="customer-churn-training",
    description="Train and register a churn model version on Dataproc Serverless",
    schedule=None,
    **lab_dag_settings(
        VERSION_PATTERN,
        version_help="Name of the new version; empty: v<logical date>",
        input_help="Labelled customer CSV; empty: the lab's training sample",
    ),
    tags=["s8s", "training"],
) as dag:
    lab_batch(
        task_id="Train-Churn-Model",
        kind="train",
        main_file="model_training.py",
        args=[
            "--input=" + input_uri("training.csv"),
            f"--models-root={MODELS_ROOT}",
            "--model-version={{ params.model_version or 'v' ~ (ts_nodash | lower) }}",
        ],
    )
