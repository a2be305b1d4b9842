"""The model registry: <models root>/<version>/{model/, metadata.json}, in a bucket or a folder.

metadata.json is one JSON object on one line (newline-delimited JSON), checked against the
model_versions schema in table_schemas.json: the stack's BigQuery external table
customer_churn_ds.model_versions reads these very files, so the registry has one source of truth.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from s8s_churn.contract import LAB, MODEL_VERSIONS_TABLE, check_record, spark_schema
from s8s_churn.job import JobError, hadoop_path, path_exists, read_text, write_text

METADATA_FILE: str = LAB["model_metadata_file"]
MODEL_VERSION = re.compile(LAB["model_version_pattern"])
LATEST: str = LAB["latest_version"]


def check_model_version(version: str, allow_latest: bool) -> str:
    if allow_latest and version == LATEST:
        return version
    if not MODEL_VERSION.match(version) or version == LATEST:
        expected = f'"{LATEST}" or ' if allow_latest else ""
        raise JobError(f"model version {version!r} is not valid; expected {expected}1-63 characters of a-z, 0-9, '.', '_', '-'")
    return version


def save_model(spark: SparkSession, models_root: str, version: str, model, metadata: dict) -> str:
    """Saves the model, then its metadata. The metadata file is written last: a version without
    it is an interrupted training and is never picked."""
    check_record(metadata, MODEL_VERSIONS_TABLE)
    base = f"{models_root.rstrip('/')}/{version}"
    model.write().overwrite().save(f"{base}/model")
    # One line: BigQuery reads newline-delimited JSON, one object per line
    # (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json).
    write_text(spark, f"{base}/{METADATA_FILE}", json.dumps(metadata, sort_keys=True) + "\n")
    return base


def timestamp_text(ts: datetime) -> str:
    """A TIMESTAMP as BigQuery's JSON reader takes it: dashes in the date, colons in the time, an offset."""
    return ts.astimezone(timezone.utc).isoformat(sep=" ", timespec="seconds")


def _trained_at(meta: dict) -> datetime:
    ts = datetime.fromisoformat(str(meta["trained_at"]).replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def metadata_files(spark: SparkSession, models_root: str) -> dict[str, str]:
    """Path -> text of every complete model version's metadata file under the root."""
    fs, root = hadoop_path(spark, models_root)
    if not fs.exists(root):
        return {}
    found = {}
    for status in fs.listStatus(root):
        if not status.isDirectory():
            continue
        meta = f"{status.getPath().toString()}/{METADATA_FILE}"
        if path_exists(spark, meta):
            found[meta] = read_text(spark, meta)
    return found


def list_models(spark: SparkSession, models_root: str) -> list[dict]:
    """Metadata of every complete model version under the root."""
    return [json.loads(text) for text in metadata_files(spark, models_root).values()]


def resolve_model_version(spark: SparkSession, models_root: str, requested: str) -> dict:
    """Metadata of the requested version, or of the newest trained one for `latest`."""
    check_model_version(requested, allow_latest=True)
    models = list_models(spark, models_root)
    if requested == LATEST:
        if not models:
            raise JobError(f"no trained model under {models_root}; train one first (the training DAG or model_training.py)")
        return max(models, key=lambda m: (_trained_at(m), m["version"]))
    for m in models:
        if m["version"] == requested:
            return m
    available = sorted(m["version"] for m in models)
    raise JobError(f"model version {requested!r} not found under {models_root}; available: {available or 'none'}")


def metadata_glob(models_root: str) -> str:
    """Every version's metadata file, as a path pattern (the external table's source URI)."""
    return f"{models_root.rstrip('/')}/*/{METADATA_FILE}"


def read_model_versions(spark: SparkSession, models_root: str) -> DataFrame:
    """The registry as a table, read the way BigQuery's model_versions external table reads it:
    the metadata files as newline-delimited JSON with the table's schema. A file BigQuery would
    refuse (not one JSON line, or keys and types off the schema) is a JobError naming it."""
    files = metadata_files(spark, models_root)
    for path, text in files.items():
        if text.strip().count("\n"):
            raise JobError(f"{path} is not one JSON line, so BigQuery cannot read it; re-train the version or rewrite the file")
        try:
            check_record(json.loads(text), MODEL_VERSIONS_TABLE)
        except JobError as e:
            raise JobError(f"{path}: {e}") from e
    if not files:
        return spark.createDataFrame([], spark_schema(MODEL_VERSIONS_TABLE))
    return spark.read.schema(spark_schema(MODEL_VERSIONS_TABLE)).option("mode", "FAILFAST").json(metadata_glob(models_root))
