"""The churn model: how it is built, saved in a version's folder, loaded and applied.

The lab's model is a logistic regression over the one-hot categories and the numeric inputs. It is
saved as its coefficients (model/logistic.json) and scored as one Spark SQL column expression, so
scoring needs no Spark ML stages, no feature vector and no Spark job to load the model: on the lab's
training sample it is also the most accurate of the models compared (docs/benchmark.md).
Versions trained earlier as a Spark ML PipelineModel (the forest) still load and score.

Reason codes. For a linear model the exact additive attribution of a prediction is each input's
weight times its distance from the training average (the linear-model case of SHAP: Lundberg and
Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017, section 5.1, "Linear
SHAP"; Molnar, "Interpretable Machine Learning", chapter "Shapley values", the linear-model
example). On the logit scale:
  - a number:   weight x (value - its training mean);
  - a category: the weight of the customer's level (0 for a level training never saw) minus the
                training-weighted mean weight of the column (sum over levels of share x weight);
  - base value: the logit of the training average, intercept + sum(weight x mean) + the columns'
                mean weights;
so base + the contributions = the row's logit (churn_logit) exactly, up to float rounding.
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


# The inputs as a retention team reads them: total_charges_filled is reported as total_charges,
# whose blank (a new customer) is shown as its own value.
REASON_NAMES = {"total_charges_filled": "total_charges"}
BLANK = "(blank)"
TOP_REASON_COUNT = 3
REASON_COLUMNS = [f"reason_{i}" for i in range(1, TOP_REASON_COUNT + 1)]
# Helper columns between predict() and explain(), dropped before the write.
_NEGATED = "_reasons_negated"  # minus each contribution, inputs in name order
_TOP = "_reasons_top"  # the three smallest of those: minus the three largest contributions
_CATEGORIES = "_reasons_categories"  # each categorical input's value as shown (NULL for numbers)


def _position(k: int) -> str:
    """The 1-based position, in name order, of the input of reason k (0-based)."""
    return f"_reasons_position_{k}"


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
class Reference:
    """The training rows' average customer: the mean of each number and the share of each category
    level. Reason codes measure every input against it."""

    numeric_means: dict[str, float]
    category_shares: dict[str, dict[str, float]]

    @classmethod
    def of(cls, rows: DataFrame, levels: dict[str, list[str]]) -> "Reference":
        """Means and shares of the training rows (one Spark job)."""
        aggs = [F.avg(F.col(c).cast("double")).alias(f"mean:{c}") for c in NUMERIC_FEATURES]
        aggs += [F.count(F.when(F.col(c) == F.lit(v), 1)).alias(f"n:{c}:{v}") for c in CATEGORICAL_FEATURES for v in levels[c]]
        found = rows.select(F.count(F.lit(1)).alias("rows"), *aggs).first().asDict()
        total = found["rows"] or 1
        return cls(
            numeric_means={c: float(found[f"mean:{c}"] or 0.0) for c in NUMERIC_FEATURES},
            category_shares={c: {v: found[f"n:{c}:{v}"] / total for v in levels[c]} for c in CATEGORICAL_FEATURES},
        )

    def to_doc(self) -> dict:
        return {"numeric_means": self.numeric_means, "category_shares": self.category_shares}

    @classmethod
    def from_doc(cls, doc, where: str) -> "Reference":
        means = doc.get("numeric_means") if isinstance(doc, dict) else None
        shares = doc.get("category_shares") if isinstance(doc, dict) else None
        if not isinstance(means, dict) or sorted(means) != sorted(NUMERIC_FEATURES) or not all(map(_is_number, means.values())):
            raise JobError(f"{where}: reference.numeric_means is {means!r}, expected a mean for each of {NUMERIC_FEATURES}")
        if not isinstance(shares, dict) or sorted(shares) != sorted(CATEGORICAL_FEATURES):
            raise JobError(f"{where}: reference.category_shares has {sorted(shares or {})}, expected {CATEGORICAL_FEATURES}")
        for column, levels in shares.items():
            if not isinstance(levels, dict) or not all(map(_is_number, levels.values())):
                raise JobError(f"{where}: reference.category_shares.{column} is {levels!r}, expected level -> share")
        return cls(numeric_means=means, category_shares=shares)


@dataclass(frozen=True)
class LogisticModel:
    """churn_probability = 1 / (1 + exp(-margin)); margin = intercept + the weighted inputs.

    `reference` (the training means and shares) is what reason codes need; versions trained before
    it was recorded have none, and their rows are scored without reasons."""

    intercept: float
    numeric: dict[str, float]
    categorical: dict[str, dict[str, float]]
    kind: str = LOGISTIC
    reference: Reference | None = None

    @classmethod
    def fit(cls, rows: DataFrame, reg_param: float = DEFAULT_REG_PARAM, max_iter: int = 100):
        """(model, the Spark ML model it was read from). Spark ML does the fitting; what is kept
        is its coefficients, named by column and level."""
        from pyspark.ml.classification import LogisticRegression

        levels = category_levels(rows)
        inputs = design(levels)
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
        reference = Reference.of(rows, levels)
        model = cls(intercept=float(fitted.intercept), numeric=numeric, categorical=categorical, reference=reference)
        return model, fitted

    def category_weight(self, column: str) -> Column:
        """The weight of the row's level of `column`; 0 for a level training never saw, or NULL."""
        term = None
        for level, weight in self.categorical[column].items():
            hit = F.col(column) == F.lit(level)
            term = F.when(hit, F.lit(weight)) if term is None else term.when(hit, F.lit(weight))
        return F.lit(0.0) if term is None else term.otherwise(F.lit(0.0))

    def margin(self) -> Column:
        total = F.lit(self.intercept)
        for column, weight in self.numeric.items():
            total = total + F.col(column).cast("double") * F.lit(weight)
        for column, weights in self.categorical.items():
            if weights:
                total = total + self.category_weight(column)
        return total

    def mean_category_weight(self, column: str) -> float:
        """The training-weighted mean weight of a categorical column."""
        shares = self.reference.category_shares[column]
        return sum(shares.get(level, 0.0) * weight for level, weight in self.categorical[column].items())

    def base_value(self) -> float:
        """The logit of the training average: what the contributions are measured from."""
        ref = self.reference
        return (
            self.intercept
            + sum(w * ref.numeric_means[c] for c, w in self.numeric.items())
            + sum(self.mean_category_weight(c) for c in self.categorical)
        )

    def contributions(self) -> list[tuple[str, Column, Column]]:
        """(feature name, the customer's value as text, contribution on the logit scale) per input."""
        ref = self.reference
        out = []
        for column, weight in self.numeric.items():
            value = F.col(column).cast("double")
            shown = F.col(column).cast("string")
            if column == "total_charges_filled":  # a blank TotalCharges is its own value
                shown = F.coalesce(F.col("total_charges").cast("string"), F.lit(BLANK))
            out.append((REASON_NAMES.get(column, column), shown, F.lit(weight) * (value - F.lit(ref.numeric_means[column]))))
        for column in self.categorical:
            shown = F.coalesce(F.col(column), F.lit(BLANK))
            out.append((column, shown, self.category_weight(column) - F.lit(self.mean_category_weight(column))))
        return out

    def ranked_inputs(self) -> list[tuple[str, Column, Column]]:
        """contributions() in feature-name order: the order that breaks ties between reasons."""
        return sorted(self.contributions(), key=lambda c: c[0])

    def predict(self, features: DataFrame) -> DataFrame:
        """Adds churn_logit, churn_probability and prediction (1 when the probability is above 0.5,
        as Spark ML's default threshold decides) as plain column expressions. With training means,
        churn_logit is the base value plus the contributions, and the three largest contributions
        are ranked here, in helper columns that explain() turns into reasons.

        How, and why so (docs/benchmark.md, "Reasons and drift"): the contributions, negated and in
        feature-name order, are sorted as a primitive double array (java.util.Arrays.sort, no
        comparator objects); the three smallest are the three largest contributions. Each one's
        feature is the first position holding that value (array_position), after the previous
        reason's position when the two are equal: so equal contributions keep name order. A NULL
        contribution (none is expected) counts as minus infinity: never a reason."""
        if self.reference is None:
            scored = features.withColumn("churn_logit", self.margin())
            return scored.withColumns(probability_columns(F.col("churn_logit")))
        inputs = self.ranked_inputs()
        n = len(inputs)
        logit = F.lit(self.base_value())
        for _, _, contribution in inputs:
            logit = logit + contribution
        negated = F.array(*[-F.coalesce(c, F.lit(-math.inf)) for _, _, c in inputs])
        scored = features.withColumns({"churn_logit": logit, _NEGATED: negated})
        scored = scored.withColumn(_TOP, F.slice(F.sort_array(F.col(_NEGATED)), 1, TOP_REASON_COUNT))
        for k in range(TOP_REASON_COUNT):
            first = f"array_position({_NEGATED}, {_TOP}[{k}])"
            position = first
            if k:  # equal to the previous reason: the next position holding the same value
                previous = _position(k - 1)
                after = f"{previous} + array_position(slice({_NEGATED}, cast({previous} + 1 AS INT), {n}), {_TOP}[{k}])"
                position = f"CASE WHEN {_TOP}[{k}] = {_TOP}[{k - 1}] THEN {after} ELSE {first} END"
            scored = scored.withColumn(_position(k), F.expr(position).cast("int"))
        return scored.drop(_NEGATED).withColumns(probability_columns(F.col("churn_logit")))

    def explain(self, predicted: DataFrame) -> DataFrame:
        """Adds reason_1..3 to predict()'s rows: the contributions that raise the score most,
        largest first, ties by feature name, each a struct (feature, value, contribution); NULL
        where fewer are positive, with reasons_note saying why none is. Only the chosen features'
        numbers are turned into text; the categories are taken as they are."""
        if self.reference is None:
            return with_no_reasons(predicted, NO_REFERENCE_NOTE)
        inputs = self.ranked_inputs()
        texts = [shown if name in CATEGORICAL_FEATURES else F.lit(None).cast("string") for name, shown, _ in inputs]
        ranked = predicted.withColumn(_CATEGORIES, F.array(*texts))
        names = F.array(*[F.lit(name) for name, _, _ in inputs])
        columns = {}
        for k, column in enumerate(REASON_COLUMNS):
            position, contribution = F.col(_position(k)), -F.col(_TOP).getItem(k)
            value = F.element_at(F.col(_CATEGORIES), position)
            for j, (name, shown, _) in enumerate(inputs):
                if name not in CATEGORICAL_FEATURES:  # a number: made text only when chosen
                    value = F.when(position == j + 1, shown).otherwise(value)
            reason = F.struct(
                F.element_at(names, position).alias("feature"), value.alias("value"), contribution.alias("contribution")
            )
            columns[column] = F.when(contribution > 0, reason)
        columns["reasons_note"] = F.when(
            ~(-F.col(_TOP).getItem(0) > 0), F.lit("no input raises this customer's score above the training average")
        )
        return ranked.withColumns(columns).drop(_TOP, _CATEGORIES, *map(_position, range(TOP_REASON_COUNT)))

    def score(self, features: DataFrame) -> DataFrame:
        """predict() and explain(): the scores with their reasons, when the version recorded its
        training means."""
        return self.explain(self.predict(features))

    def to_json(self) -> str:
        doc = {"kind": self.kind, "intercept": self.intercept, "numeric": self.numeric, "categorical": self.categorical}
        if self.reference is not None:
            doc["reference"] = self.reference.to_doc()
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
        reference = Reference.from_doc(doc["reference"], where) if "reference" in doc else None
        return cls(intercept=float(doc["intercept"]), numeric=numeric, categorical=categorical, reference=reference)

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


def probability_columns(logit: Column) -> dict[str, Column]:
    """churn_probability (the sigmoid of the logit) and prediction (1 above 0.5: a positive logit)."""
    return {
        "churn_probability": F.lit(1.0) / (F.lit(1.0) + F.exp(-logit)),
        "prediction": F.when(logit > 0, F.lit(1)).otherwise(F.lit(0)).cast("long"),
    }


NO_REFERENCE_NOTE = "no reasons: this model version was trained before training means were recorded; re-train it to get reasons"
FOREST_NOTE = "no reasons: a forest model has no exact additive reason codes; train the logistic model to get them"


def with_no_reasons(scored: DataFrame, note: str) -> DataFrame:
    """The reason columns left empty, with the note saying why."""
    empty = {name: F.lit(None) for name in REASON_COLUMNS}
    return scored.withColumns({**empty, "reasons_note": F.lit(note)})


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


def predict(model, features: DataFrame) -> DataFrame:
    """Adds churn_logit, churn_probability and prediction (0/1), with either kind of model; a
    logistic model's ranking of its contributions rides along in helper columns until explain()."""
    if isinstance(model, LogisticModel):
        return model.predict(features)
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(features)
    scored = scored.withColumn("prediction", F.col("prediction").cast("long")).withColumn(
        "churn_probability", vector_to_array(F.col("probability"))[1]
    )
    # The forest's log-odds, clipped where its probability is 0 or 1.
    p = F.least(F.greatest(F.col("churn_probability"), F.lit(1e-12)), F.lit(1 - 1e-12))
    return scored.withColumn("churn_logit", F.log(p / (F.lit(1.0) - p)))


def explain(model, predicted: DataFrame) -> DataFrame:
    """Adds reason_1..3 and reasons_note to predict()'s rows."""
    if isinstance(model, LogisticModel):
        return model.explain(predicted)
    return with_no_reasons(predicted, FOREST_NOTE)


def score(model, features: DataFrame) -> DataFrame:
    """The scores with their reasons, with either kind of model."""
    return explain(model, predict(model, features))


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
