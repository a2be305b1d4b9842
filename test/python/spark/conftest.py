"""Fixtures for the Spark job tests: one local SparkSession and one trained model per run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
JOBS = REPO / "pyspark"
# The jobs' folder itself goes on the path (never its parent: `import pyspark` must stay Spark).
sys.path.insert(0, str(JOBS))


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("s8s-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory):
    """The lab's sample files, generated afresh."""
    from local import sample_data

    out = tmp_path_factory.mktemp("data")
    sample_data.write_lab_samples(out)
    return {"training": out / sample_data.TRAINING_FILE, "scoring": out / sample_data.SCORING_FILE}


@pytest.fixture(scope="session")
def models_root(spark, sample_files, tmp_path_factory):
    """A models folder with one version, v-test, trained on the lab's training sample."""
    from s8s_churn import training

    root = tmp_path_factory.mktemp("models")
    args = training.parse_args(
        ["--input", str(sample_files["training"]), "--models-root", str(root), "--model-version", "v-test", "--num-trees", "30"]
    )
    training.train(spark, args)
    return root


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def job_args(models_root, input_path, out, pipeline_id="run-1", version="latest") -> list[str]:
    """batch_scoring.py's arguments for a local run with a fixed execution time."""
    return [
        "--pipeline-id",
        pipeline_id,
        "--model-version",
        version,
        "--input",
        str(input_path),
        "--models-root",
        str(models_root),
        "--sink",
        "local",
        "--output",
        str(out),
        "--execution-ts",
        "2026-01-31T12:00:00Z",
    ]
