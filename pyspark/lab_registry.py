"""The model registry: <models root>/<version>/{model/, metadata.json}, in a bucket or a folder."""

from __future__ import annotations

import json
import re

from lab_job import JobError, hadoop_path, path_exists, read_text, write_text
from pyspark.sql import SparkSession

METADATA_FILE = "metadata.json"
MODEL_VERSION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
LATEST = "latest"


def check_model_version(version: str, allow_latest: bool) -> str:
    if allow_latest and version == LATEST:
        return version
    if not MODEL_VERSION.match(version) or version == LATEST:
        expected = '"latest" or ' if allow_latest else ""
        raise JobError(f"model version {version!r} is not valid; expected {expected}1-63 characters of a-z, 0-9, '.', '_', '-'")
    return version


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
