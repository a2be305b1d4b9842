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
# The promotion gate's defaults (model_training.py --min-auc / --max-auc-drop): the lab's logistic
# model reaches a held-out AUC of about 0.84 on its training sample, the forest about 0.82; a
# version below 0.75 or more than 0.02 below the promoted one is trained but not promoted.
DEFAULT_MIN_AUC = 0.75
DEFAULT_MAX_AUC_DROP = 0.02


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


def is_promoted(meta: dict) -> bool:
    """A version passed the promotion gate. One trained before the gate existed (no promotion
    record, every version of a lab deployed earlier) counts as promoted, so upgrading the lab
    does not leave the latest alias without a version."""
    promotion = meta.get("promotion")
    return promotion is None or bool(promotion.get("promoted"))


def newest_promoted(models: list[dict]) -> dict | None:
    promoted = [m for m in models if is_promoted(m)]
    return max(promoted, key=lambda m: (_trained_at(m), m["version"])) if promoted else None


def promotion_verdict(auc: float, current: dict | None, min_auc: float, max_auc_drop: float) -> dict:
    """The gate: held-out AUC >= min_auc, and >= the current promoted version's AUC - max_auc_drop."""
    current_auc = (current or {}).get("metrics", {}).get("auc")
    problems = []
    if auc < min_auc:
        problems.append(f"held-out AUC {auc:.4f} is below the floor {min_auc:.4f}")
    if current_auc is not None and auc < current_auc - max_auc_drop:
        problems.append(
            f"held-out AUC {auc:.4f} is more than {max_auc_drop:.4f} below {current_auc:.4f} "
            f"of the promoted version {current['version']}"
        )
    if problems:
        reason = "not promoted: " + "; ".join(problems)
    elif current_auc is None:
        reason = f"promoted: held-out AUC {auc:.4f} >= floor {min_auc:.4f}; no version was promoted before"
    else:
        reason = (
            f"promoted: held-out AUC {auc:.4f} >= floor {min_auc:.4f} and within {max_auc_drop:.4f} of "
            f"{current_auc:.4f} of the promoted version {current['version']}"
        )
    return {
        "promoted": not problems,
        "reason": reason,
        "min_auc": min_auc,
        "max_auc_drop": max_auc_drop,
        "compared_with": current["version"] if current else None,
    }


def resolve_model_version(spark: SparkSession, models_root: str, requested: str) -> dict:
    """Metadata of the requested version (promoted or not), or of the newest promoted one for the latest alias."""
    check_model_version(requested, allow_latest=True)
    models = list_models(spark, models_root)
    if requested == LATEST:
        if not models:
            raise JobError(f"no trained model under {models_root}; train one first (the training DAG or model_training.py)")
        chosen = newest_promoted(models)
        if chosen is None:
            refused = sorted(m["version"] for m in models)
            raise JobError(
                f"no promoted model version under {models_root} (trained but not promoted: {refused}); "
                "name a version with --model-version, or train one that passes the promotion gate"
            )
        return chosen
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
