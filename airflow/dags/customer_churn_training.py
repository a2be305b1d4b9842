"""Training: train the churn model on the lab's training sample as a Dataproc Serverless batch
and register it as a new model version, which the scoring DAG's `latest` then picks if it passes
the promotion gate (the promotion_min_auc and promotion_max_auc_drop variables).

The version is v<run timestamp>-<run id hash>, e.g. v20261201t090229-1f0c3a9e (the run's logical
date, else the time it was triggered for; see s8s_common.default_model_version), unless the
trigger names one:
    {"model_version": "my-version"}
"""

from __future__ import annotations

# One import for Airflow 3 and 2.11: the common-compat provider, which the Google provider
# itself imports from (so every image with providers-google 22.x has it).
from airflow.providers.common.compat.sdk import DAG

from s8s_common import (
    DAG_IDS,
    MODELS_ROOT,
    PROMOTION_MAX_AUC_DROP,
    PROMOTION_MIN_AUC,
    VERSION_PATTERN,
    input_uri,
    lab_batch,
    lab_dag_settings,
)

with DAG(
    dag_id=DAG_IDS["training"],
    description="Train and register a churn model version on Dataproc Serverless",
    schedule=None,
    **lab_dag_settings(
        VERSION_PATTERN,
        version_help="Name of the new version; empty: v<run timestamp>-<run id hash>",
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
            "--model-version={{ params.model_version or default_model_version(dag_run) }}",
            f"--min-auc={PROMOTION_MIN_AUC}",
            f"--max-auc-drop={PROMOTION_MAX_AUC_DROP}",
        ],
    )
