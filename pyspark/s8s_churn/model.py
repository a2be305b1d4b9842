"""The churn model: how it is built, saved in a version's folder, loaded and applied.

The lab's model is a logistic regression over the one-hot categories and the numeric inputs. It is
saved as its coefficients (model/logistic.json) and scored as one Spark SQL column expression, so
scoring needs no Spark ML stages, no feature vector and no Spark job to load the model: on the lab's
training sample it is also the most accurate of the models compared (README, "Benchmark").
Versions trained earlier as a Spark ML PipelineModel (the forest) still load and score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from s8s_churn.contract import INTERNET_ADDONS
from s8s_churn.job import JobError, hadoop_path, path_exists, read_text, write_text

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

LOGISTIC = "logistic"
FOREST = "forest"
MODEL_KINDS = (LOGISTIC, FOREST)
LOGISTIC_FILE = "logistic.json"
# A little L2 keeps the coefficients unique: every category level has its own indicator, so
# without it the indicators of one column and the intercept are collinear.
DEFAULT_REG_PARAM = 0.001


def model_uri(models_root: str, version: str) -> str:
    return f"{models_root.rstrip('/')}/{version}/model"


# --------------------------------------------------------------------------------------------
# Logistic regression as column expressions
# --------------------------------------------------------------------------------------------


def category_levels(rows: DataFrame) -> dict[str, list[str]]:
    """The values each categorical column takes in the training rows (one Spark job)."""
    found = rows.select([F.array_sort(F.collect_set(c)).alias(c) for c in CATEGORICAL_FEATURES]).first()
    return {c: list(found[c]) for c in CATEGORICAL_FEATURES}


def design(levels: dict[str, list[str]]) -> list[tuple[str, str | None, Column]]:
    """The model's inputs in coefficient order: (column, level or None, value as a double).

    A category value the training rows never had (or NULL) sets none of its column's indicators,
    so it adds nothing to the score instead of failing the job.
    """
    numeric = [(c, None, F.col(c).cast("double")) for c in NUMERIC_FEATURES]
    indicators = [
        (c, v, F.coalesce((F.col(c) == F.lit(v)).cast("double"), F.lit(0.0))) for c in CATEGORICAL_FEATURES for v in levels[c]
    ]
    return numeric + indicators


@dataclass(frozen=True)
class LogisticModel:
    """churn_probability = 1 / (1 + exp(-margin)); margin = intercept + the weighted inputs."""

    intercept: float
    numeric: dict[str, float]
    categorical: dict[str, dict[str, float]]
    kind: str = LOGISTIC

    @classmethod
    def fit(cls, rows: DataFrame, reg_param: float = DEFAULT_REG_PARAM, max_iter: int = 100):
        """(model, the Spark ML model it was read from). Spark ML does the fitting; what is kept
        is its coefficients, named by column and level."""
        from pyspark.ml.classification import LogisticRegression

        inputs = design(category_levels(rows))
        fitted = LogisticRegression(labelCol="label", featuresCol="features", regParam=reg_param, maxIter=max_iter).fit(
            with_feature_vector(rows, inputs)
        )
        numeric: dict[str, float] = {}
        categorical: dict[str, dict[str, float]] = {c: {} for c in CATEGORICAL_FEATURES}
        for (column, level, _), weight in zip(inputs, fitted.coefficients.toArray().tolist(), strict=True):
            if level is None:
                numeric[column] = weight
            else:
                categorical[column][level] = weight
        return cls(intercept=float(fitted.intercept), numeric=numeric, categorical=categorical), fitted

    def margin(self) -> Column:
        total = F.lit(self.intercept)
        for column, weight in self.numeric.items():
            total = total + F.col(column).cast("double") * F.lit(weight)
        for column, weights in self.categorical.items():
            if not weights:
                continue
            term = None
            for level, weight in weights.items():
                hit = F.col(column) == F.lit(level)
                term = F.when(hit, F.lit(weight)) if term is None else term.when(hit, F.lit(weight))
            total = total + term.otherwise(F.lit(0.0))
        return total

    def score(self, features: DataFrame) -> DataFrame:
        """Adds churn_probability and prediction (1 when the probability is above 0.5, as Spark
        ML's default threshold decides), as plain column expressions."""
        m = self.margin()
        return features.withColumns(
            {
                "churn_probability": F.lit(1.0) / (F.lit(1.0) + F.exp(-m)),
                "prediction": F.when(m > 0, F.lit(1)).otherwise(F.lit(0)).cast("long"),
            }
        )

    def to_json(self) -> str:
        doc = {"kind": self.kind, "intercept": self.intercept, "numeric": self.numeric, "categorical": self.categorical}
        return json.dumps(doc, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> "LogisticModel":
        """Parses a saved model, naming the file and the key that is wrong."""
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise JobError(f"{where} is not JSON: {e}") from e
        if not isinstance(doc, dict) or doc.get("kind") != LOGISTIC:
            raise JobError(f"{where}: kind is {doc.get('kind') if isinstance(doc, dict) else doc!r}, expected {LOGISTIC!r}")
        if not _is_number(doc.get("intercept")):
            raise JobError(f"{where}: intercept is {doc.get('intercept')!r}, expected a number")
        numeric = doc.get("numeric")
        if (
            not isinstance(numeric, dict)
            or sorted(numeric) != sorted(NUMERIC_FEATURES)
            or not all(map(_is_number, numeric.values()))
        ):
            raise JobError(f"{where}: numeric is {numeric!r}, expected a weight for each of {NUMERIC_FEATURES}")
        categorical = doc.get("categorical")
        if not isinstance(categorical, dict) or sorted(categorical) != sorted(CATEGORICAL_FEATURES):
            raise JobError(f"{where}: categorical has {sorted(categorical or {})}, expected the columns {CATEGORICAL_FEATURES}")
        for column, weights in categorical.items():
            if not isinstance(weights, dict) or not all(map(_is_number, weights.values())):
                raise JobError(f"{where}: categorical.{column} is {weights!r}, expected level -> weight")
        return cls(intercept=float(doc["intercept"]), numeric=numeric, categorical=categorical)

    def write(self) -> "_LogisticWriter":
        """Spark ML's MLWritable shape (model.write().overwrite().save(uri)), so the registry
        saves either kind of model the same way."""
        return _LogisticWriter(self)


class _LogisticWriter:
    def __init__(self, model: LogisticModel):
        self.model = model

    def overwrite(self) -> "_LogisticWriter":
        return self

    def save(self, uri: str) -> None:
        spark = SparkSession.getActiveSession()
        fs, path = hadoop_path(spark, uri)
        fs.delete(path, True)  # a folder of an earlier model under the same version name
        write_text(spark, f"{uri}/{LOGISTIC_FILE}", self.model.to_json())


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def with_feature_vector(rows: DataFrame, inputs: list[tuple[str, str | None, Column]]) -> DataFrame:
    """The inputs as the vector column Spark ML's estimators read (training and reference only)."""
    from pyspark.ml.functions import array_to_vector

    return rows.withColumn("features", array_to_vector(F.array(*[value for _, _, value in inputs])))


# --------------------------------------------------------------------------------------------
# The forest (the original lab's model) as a Spark ML pipeline
# --------------------------------------------------------------------------------------------


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
    """Adds prediction (0/1) and churn_probability, with either kind of model."""
    if isinstance(model, LogisticModel):
        return model.score(features)
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(features)
    return scored.withColumn("prediction", F.col("prediction").cast("long")).withColumn(
        "churn_probability", vector_to_array(F.col("probability"))[1]
    )


def load_model(spark: SparkSession, models_root: str, version: str):
    """The version's model: its coefficients if it has logistic.json (read by the driver, no Spark
    job), else the Spark ML PipelineModel an earlier training saved (about 18 small Spark jobs)."""
    uri = model_uri(models_root, version)
    coefficients = f"{uri}/{LOGISTIC_FILE}"
    try:
        if path_exists(spark, coefficients):
            return LogisticModel.from_json(read_text(spark, coefficients), coefficients)
        from pyspark.ml import PipelineModel

        return PipelineModel.load(uri)
    except JobError as e:
        raise JobError(f"model {version!r} at {uri} does not load: {e}") from e
    except Exception as e:  # noqa: BLE001 - re-raised with the path the user must look at
        raise JobError(f"model {version!r} at {uri} does not load: {str(e).splitlines()[0]}") from e
