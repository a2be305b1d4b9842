"""Shared by the lab's Spark jobs: input contract, validation, features, model registry, sinks.

Runs unchanged on Dataproc Serverless (runtime 2.2, Spark 3.5) and on a local SparkSession.
Every transformation is a DataFrame -> DataFrame function; nothing runs at import.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger("s8s")

# --------------------------------------------------------------------------------------------
# The input contract (the IBM Telco churn export)
# --------------------------------------------------------------------------------------------

INPUT_COLUMNS = [
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
]
LABEL_COLUMN = "Churn"
CORRUPT_COLUMN = "_corrupt_record"
REJECT_REASON = "reject_reason"

INTERNET_ADDONS_RAW = ["OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies"]


def snake_case(name: str) -> str:
    """customerID -> customer_id, StreamingTV -> streaming_tv, SeniorCitizen -> senior_citizen."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.lower()


RENAMES = {c: snake_case(c) for c in INPUT_COLUMNS + [LABEL_COLUMN]}
INTERNET_ADDONS = [RENAMES[c] for c in INTERNET_ADDONS_RAW]
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
TENURE_GROUPS = [(12, "Tenure_0-12"), (24, "Tenure_12-24"), (48, "Tenure_24-48"), (60, "Tenure_48-60")]
TENURE_GT_60 = "Tenure_gt_60"

PIPELINE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
MODEL_VERSION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
LATEST = "latest"


class JobError(Exception):
    """A problem the user can fix: bad arguments, input or model. The job exits non-zero."""


# --------------------------------------------------------------------------------------------
# Output tables: one definition, shared with the stack (pyspark/table_schemas.json)
# --------------------------------------------------------------------------------------------

SCHEMA_FILE = "table_schemas.json"
PREDICTIONS_TABLE = "batch_predictions"
REJECTS_TABLE = "batch_rejects"
_BQ_TO_SPARK = {
    "STRING": T.StringType(),
    "INT64": T.LongType(),
    "FLOAT64": T.DoubleType(),
    "TIMESTAMP": T.TimestampType(),
}


def load_table_schemas() -> dict[str, list[dict]]:
    """Reads table_schemas.json from beside this module, the working directory or SparkFiles.

    On Dataproc the file arrives through the batch's file_uris, in the working directory.
    """
    candidates = [Path(__file__).with_name(SCHEMA_FILE), Path.cwd() / SCHEMA_FILE]
    try:
        from pyspark import SparkFiles

        candidates.append(Path(SparkFiles.get(SCHEMA_FILE)))
    except Exception:  # noqa: BLE001 - no active SparkContext: the other places are enough
        pass
    for candidate in candidates:
        if candidate.is_file():
            doc = json.loads(candidate.read_text(encoding="utf-8"))
            return {k: v for k, v in doc.items() if not k.startswith("_")}
    raise JobError(f"{SCHEMA_FILE} not found in {[str(c) for c in candidates]}; ship it with the job (file_uris)")


def spark_schema(table: str) -> T.StructType:
    columns = load_table_schemas()[table]
    return T.StructType([T.StructField(c["name"], _BQ_TO_SPARK[c["type"]], True) for c in columns])


def conform(df: DataFrame, table: str) -> DataFrame:
    """Selects exactly the table's columns, in its order and types; a missing one is an error."""
    schema = spark_schema(table)
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise JobError(f"output for {table} lacks column(s) {missing}; the table has {schema.fieldNames()}")
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# --------------------------------------------------------------------------------------------
# Reading and validating the input
# --------------------------------------------------------------------------------------------


def hadoop_path(spark: SparkSession, uri: str):
    """(FileSystem, Path) for a gs://, file:// or plain local path, through Spark's own Hadoop."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def path_exists(spark: SparkSession, uri: str) -> bool:
    fs, path = hadoop_path(spark, uri)
    return bool(fs.exists(path))


def read_header(spark: SparkSession, uri: str) -> list[str]:
    """The header line of a CSV file (or of the first file of a folder). Reads one line."""
    first = spark.read.text(uri).limit(1).collect()
    if not first:
        raise JobError(f"input {uri} is empty; expected a CSV file with a header line")
    return [h.strip().strip('"') for h in first[0][0].lstrip("\ufeff").split(",")]


def input_schema(header: Sequence[str]) -> T.StructType:
    """Every column as text, in the file's order; typing happens in validate() with reasons."""
    return T.StructType(
        [T.StructField(h, T.StringType(), True) for h in header] + [T.StructField(CORRUPT_COLUMN, T.StringType(), True)]
    )


def read_customers(spark: SparkSession, uri: str, with_label: bool) -> DataFrame:
    """Reads the customer CSV with an explicit schema (no inference) and checks its columns."""
    if not path_exists(spark, uri):
        raise JobError(f"input {uri} does not exist; expected a CSV file of customers")
    header = read_header(spark, uri)
    expected = INPUT_COLUMNS + ([LABEL_COLUMN] if with_label else [])
    missing = [c for c in expected if c not in header]
    if missing:
        raise JobError(f"input {uri} is missing column(s) {missing}; expected the columns {expected}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise JobError(f"input {uri} repeats column(s) {duplicated} in its header")
    df = (
        spark.read.schema(input_schema(header))
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .option("multiLine", False)
        .csv(uri)
    )
    return df.select(*expected, CORRUPT_COLUMN)


def require_columns(df: DataFrame, columns: dict[str, T.DataType]) -> None:
    """Raises a JobError naming each missing column or column of the wrong type."""
    actual = dict((f.name, f.dataType) for f in df.schema.fields)
    problems = []
    for name, dtype in columns.items():
        if name not in actual:
            problems.append(f"column {name} is missing")
        elif actual[name] != dtype:
            problems.append(f"column {name} is {actual[name].simpleString()}, expected {dtype.simpleString()}")
    if problems:
        raise JobError("; ".join(problems))


_WHOLE = r"^\s*[0-9]+\s*$"
_NUMBER = r"^\s*[0-9]+(\.[0-9]+)?\s*$"


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def _quoted(name: str) -> Column:
    return F.concat(F.lit(f"{name}: '"), F.coalesce(F.col(name), F.lit("")), F.lit("'"))


def validate(df: DataFrame, with_label: bool) -> DataFrame:
    """Adds reject_reason: NULL for a row that can be scored, else every problem with the row.

    Blank TotalCharges is not a problem (new customers); unknown category values are not either
    (the model has a bucket for them). Values that cannot be typed are.
    """
    require_columns(df, {c: T.StringType() for c in INPUT_COLUMNS})
    checks = [
        F.when(F.col(CORRUPT_COLUMN).isNotNull(), F.lit("malformed CSV row (wrong number of fields or bad quoting)")),
        F.when(_blank(F.col("customerID")), F.lit("customerID: blank; expected an id")),
        F.when(
            ~F.coalesce(F.col("SeniorCitizen"), F.lit("")).rlike(r"^\s*[01]\s*$"),
            F.concat(_quoted("SeniorCitizen"), F.lit(" is not 0 or 1")),
        ),
        F.when(
            ~F.coalesce(F.col("tenure"), F.lit("")).rlike(_WHOLE),
            F.concat(_quoted("tenure"), F.lit(" is not a whole number of months")),
        ),
        F.when(
            ~F.coalesce(F.col("MonthlyCharges"), F.lit("")).rlike(_NUMBER),
            F.concat(_quoted("MonthlyCharges"), F.lit(" is not a non-negative amount")),
        ),
        F.when(
            ~_blank(F.col("TotalCharges")) & ~F.col("TotalCharges").rlike(_NUMBER),
            F.concat(_quoted("TotalCharges"), F.lit(" is not a non-negative amount or blank")),
        ),
    ]
    if with_label:
        checks.append(
            F.when(
                ~F.coalesce(F.col(LABEL_COLUMN), F.lit("")).isin("Yes", "No"),
                F.concat(_quoted(LABEL_COLUMN), F.lit(" is not Yes or No")),
            )
        )
    reasons = F.concat_ws("; ", F.filter(F.array(*checks), lambda x: x.isNotNull()))
    return df.withColumn(REJECT_REASON, F.when(reasons != "", reasons))


# --------------------------------------------------------------------------------------------
# Preprocessing (the original lab's, plus typing): pure DataFrame -> DataFrame functions
# --------------------------------------------------------------------------------------------


def rename_columns(df: DataFrame) -> DataFrame:
    return df.select([F.col(c).alias(RENAMES.get(c, c)) for c in df.columns])


def cast_columns(df: DataFrame) -> DataFrame:
    """Types the validated text columns. Blank total_charges becomes NULL (new customers)."""
    return (
        df.withColumn("senior_citizen", F.trim("senior_citizen").cast("long"))
        .withColumn("tenure", F.trim("tenure").cast("long"))
        .withColumn("monthly_charges", F.trim("monthly_charges").cast("double"))
        .withColumn(
            "total_charges", F.when(_blank(F.col("total_charges")), None).otherwise(F.trim("total_charges")).cast("double")
        )
    )


def fold_no_internet(df: DataFrame) -> DataFrame:
    """'No internet service' says the same as 'No' for the six internet add-ons."""
    for c in INTERNET_ADDONS:
        df = df.withColumn(c, F.when(F.col(c) == "No internet service", "No").otherwise(F.col(c)))
    return df


def add_tenure_group(df: DataFrame) -> DataFrame:
    group = F.when(F.col("tenure") <= TENURE_GROUPS[0][0], TENURE_GROUPS[0][1])
    for upper, label in TENURE_GROUPS[1:]:
        group = group.when(F.col("tenure") <= upper, label)
    return df.withColumn("tenure_group", group.otherwise(TENURE_GT_60))


def add_model_inputs(df: DataFrame) -> DataFrame:
    """total_charges_filled: a new customer's total is what the months so far cost (zero)."""
    return df.withColumn("total_charges_filled", F.coalesce(F.col("total_charges"), F.col("monthly_charges") * F.col("tenure")))


def add_label(df: DataFrame) -> DataFrame:
    return df.withColumn("label", F.when(F.col("churn") == "Yes", 1.0).otherwise(0.0))


def preprocess(valid: DataFrame) -> DataFrame:
    """Validated input rows -> typed, cleaned rows with the model's inputs."""
    df = rename_columns(valid.drop(CORRUPT_COLUMN, REJECT_REASON))
    df = add_model_inputs(add_tenure_group(fold_no_internet(cast_columns(df))))
    return add_label(df) if "churn" in df.columns else df


# --------------------------------------------------------------------------------------------
# The model
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
    """Adds prediction (0/1) and churn_probability."""
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(features)
    return scored.withColumn("prediction", F.col("prediction").cast("long")).withColumn(
        "churn_probability", vector_to_array(F.col("probability"))[1]
    )


# --------------------------------------------------------------------------------------------
# Model registry: <models root>/<version>/{model/, metadata.json}
# --------------------------------------------------------------------------------------------

METADATA_FILE = "metadata.json"


def check_model_version(version: str, allow_latest: bool) -> str:
    if allow_latest and version == LATEST:
        return version
    if not MODEL_VERSION.match(version) or version == LATEST:
        expected = '"latest" or ' if allow_latest else ""
        raise JobError(f"model version {version!r} is not valid; expected {expected}1-63 characters of a-z, 0-9, '.', '_', '-'")
    return version


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    fs, path = hadoop_path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def read_text(spark: SparkSession, uri: str) -> str:
    """A small file's text, read by the driver (no Spark job per file)."""
    fs, path = hadoop_path(spark, uri)
    stream = fs.open(path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def save_model(spark: SparkSession, models_root: str, version: str, model, metadata: dict) -> str:
    """Saves the model, then its metadata. The metadata file is written last: a version without
    it is an interrupted training and is never picked."""
    base = f"{models_root.rstrip('/')}/{version}"
    model.write().overwrite().save(f"{base}/model")
    write_text(spark, f"{base}/{METADATA_FILE}", json.dumps(metadata, indent=2, sort_keys=True))
    return base


def list_models(spark: SparkSession, models_root: str) -> list[dict]:
    """Metadata of every complete model version under the root."""
    fs, root = hadoop_path(spark, models_root)
    if not fs.exists(root):
        return []
    found = []
    for status in fs.listStatus(root):
        if not status.isDirectory():
            continue
        meta = f"{status.getPath().toString()}/{METADATA_FILE}"
        if path_exists(spark, meta):
            found.append(json.loads(read_text(spark, meta)))
    return found


def resolve_model_version(spark: SparkSession, models_root: str, requested: str) -> dict:
    """Metadata of the requested version, or of the newest trained one for 'latest'."""
    check_model_version(requested, allow_latest=True)
    models = list_models(spark, models_root)
    if requested == LATEST:
        if not models:
            raise JobError(f"no trained model under {models_root}; train one first (the training DAG or model_training.py)")
        return max(models, key=lambda m: (m["trained_at"], m["version"]))
    for m in models:
        if m["version"] == requested:
            return m
    available = sorted(m["version"] for m in models)
    raise JobError(f"model version {requested!r} not found under {models_root}; available: {available or 'none'}")


def load_model(models_root: str, version: str):
    from pyspark.ml import PipelineModel

    uri = f"{models_root.rstrip('/')}/{version}/model"
    try:
        return PipelineModel.load(uri)
    except Exception as e:  # noqa: BLE001 - re-raised with the path the user must look at
        raise JobError(f"model {version!r} at {uri} does not load: {str(e).splitlines()[0]}") from e


# --------------------------------------------------------------------------------------------
# Sinks: one code path, two places. Each write first removes the run's earlier rows, so a
# retry or re-run of a pipeline_id replaces its rows instead of adding to them.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalSink:
    """Parquet tables under a folder, partitioned by pipeline_id (pipeline_id=<id>/)."""

    root: str

    def table_uri(self, table: str) -> str:
        return f"{self.root.rstrip('/')}/{table}"

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        fs, path = hadoop_path(spark, f"{self.table_uri(table)}/pipeline_id={pipeline_id}")
        fs.delete(path, True)
        rows.write.mode("append").partitionBy("pipeline_id").parquet(self.table_uri(table))


@dataclass(frozen=True)
class BigQuerySink:
    """customer_churn_ds tables, through the BigQuery connector runtime 2.2 ships.

    Delete-then-append: the DELETE runs as a query job; the rows go in one load job (indirect
    write), which is atomic and, unlike streamed rows, can be deleted at once by a later retry.
    """

    project: str
    dataset: str
    temp_bucket: str

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def delete_statement(self, table: str) -> str:
        return f"DELETE FROM `{self.table_id(table)}` WHERE pipeline_id = @pipeline_id"

    def replace(self, spark: SparkSession, table: str, pipeline_id: str, rows: DataFrame) -> None:
        from google.cloud import bigquery  # on the runtime 2.2 image; not needed locally

        client = bigquery.Client(project=self.project)
        params = [bigquery.ScalarQueryParameter("pipeline_id", "STRING", pipeline_id)]
        job = client.query(self.delete_statement(table), job_config=bigquery.QueryJobConfig(query_parameters=params))
        job.result()
        log.info("deleted %s earlier rows of pipeline_id=%s from %s", job.num_dml_affected_rows, pipeline_id, table)
        (
            rows.write.format("bigquery")
            .option("writeMethod", "indirect")
            .option("temporaryGcsBucket", self.temp_bucket)
            .mode("append")
            .save(self.table_id(table))
        )


# --------------------------------------------------------------------------------------------
# Sessions, arguments, entry points
# --------------------------------------------------------------------------------------------


def get_spark(app_name: str) -> SparkSession:
    """The active session (Dataproc makes one) or a local one; UTC for every timestamp."""
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")  # progress bars garble batch logs
    )
    return builder.getOrCreate()


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (an argparse type). Naive times are taken as UTC."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 timestamp such as 2026-01-31T12:00:00+00:00") from e
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def pipeline_id_arg(value: str) -> str:
    if not PIPELINE_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a pipeline id; expected 1-100 characters of a-z, 0-9, '_', '-'")
    return value


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Runs a job's main; a JobError prints its message and exits 2, anything else raises."""
    setup_logging()
    try:
        return main(argv)
    except JobError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
