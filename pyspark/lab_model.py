"""The churn model: how it is built, loaded from a version's folder, and applied."""

from __future__ import annotations

from lab_contract import INTERNET_ADDONS
from lab_job import JobError
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CATEGORICAL_FEATURES = [
    "gender",
    "partner",
    "dependents",
    "phone_service",
    "multiple_lines",
    "internet_service",
    *INTERNET_ADDONS,
    "contract",
    "paperless_billing",
    "payment_method",
    "tenure_group",
]
NUMERIC_FEATURES = ["senior_citizen", "tenure", "monthly_charges", "total_charges_filled"]


def build_pipeline(seed: int = 42, num_trees: int = 60, max_depth: int = 8):
    """Per categorical column a StringIndexer and a one-hot encoder, an assembler, a forest.

    handleInvalid='keep' gives unseen or missing categories a bucket of their own, so a new
    payment method in next month's export is scored instead of failing the job.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    indexed = [f"{c}_idx" for c in CATEGORICAL_FEATURES]
    encoded = [f"{c}_vec" for c in CATEGORICAL_FEATURES]
    return Pipeline(
        stages=[
            StringIndexer(inputCols=CATEGORICAL_FEATURES, outputCols=indexed, handleInvalid="keep"),
            OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
            VectorAssembler(inputCols=NUMERIC_FEATURES + encoded, outputCol="features"),
            RandomForestClassifier(labelCol="label", featuresCol="features", numTrees=num_trees, maxDepth=max_depth, seed=seed),
        ]
    )


def score(model, features: DataFrame) -> DataFrame:
    """Adds prediction (0/1) and churn_probability."""
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(features)
    return scored.withColumn("prediction", F.col("prediction").cast("long")).withColumn(
        "churn_probability", vector_to_array(F.col("probability"))[1]
    )


def load_model(models_root: str, version: str):
    from pyspark.ml import PipelineModel

    uri = f"{models_root.rstrip('/')}/{version}/model"
    try:
        return PipelineModel.load(uri)
    except Exception as e:  # noqa: BLE001 - re-raised with the path the user must look at
        raise JobError(f"model {version!r} at {uri} does not load: {str(e).splitlines()[0]}") from e
