"""The lab's data path on embedded Spark, no cloud account: generate, train, score, report.

Run through `npm run local` (which prepares the Python environment). Writes under local-run/:
  data/        the sample input (the same files the stack uploads to the data bucket)
  models/      one folder per trained model version (what the models bucket holds)
  warehouse/   batch_predictions/, batch_rejects/ and batch_runs/ as Parquet, partitioned by pipeline_id

The report reads those files the way the walkthrough's queries read the BigQuery tables:
model_versions (the metadata files with the table's schema), the run's batch_runs row, and the
reconciliation of that row against the run's rows in the two output tables.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "pyspark"))  # the jobs' folder, never its parent

import batch_scoring  # noqa: E402
import model_training  # noqa: E402
import sample_data  # noqa: E402
from lab_contract import PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE  # noqa: E402
from lab_job import JobError, get_spark, run_main  # noqa: E402
from lab_registry import read_model_versions  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402


def show_model_versions(spark, models: Path) -> None:
    print("SELECT ... FROM customer_churn_ds.model_versions ORDER BY trained_at DESC:")
    read_model_versions(spark, str(models)).select(
        "version",
        "trained_at",
        F.col("metrics.auc").alias("auc"),
        F.col("metrics.precision").alias("precision"),
        F.col("metrics.recall").alias("recall"),
        "rows_read",
        "input",
    ).orderBy(F.desc("trained_at")).show(10, truncate=False)


def reconcile(spark, warehouse: Path, pid: str) -> None:
    """The check the scoring DAG runs in BigQuery: the run row's counts against the rows written."""
    runs = spark.read.parquet(str(warehouse / RUNS_TABLE)).where(F.col("pipeline_id") == pid).collect()
    if len(runs) != 1:
        raise JobError(f"{RUNS_TABLE} holds {len(runs)} rows for pipeline_id {pid}; expected exactly 1")
    [run] = runs
    print(f"SELECT * FROM customer_churn_ds.{RUNS_TABLE} WHERE pipeline_id='{pid}':")
    for name, value in run.asDict().items():
        print(f"  {name:<22} {value}")
    written = {}
    for table in (PREDICTIONS_TABLE, REJECTS_TABLE):
        written[table] = spark.read.parquet(str(warehouse / table)).where(F.col("pipeline_id") == pid).count()
    scored, rejected = written[PREDICTIONS_TABLE], written[REJECTS_TABLE]
    checks = [
        (f"read {run.read} = scored {run.scored} + rejected {run.rejected}", run.read == run.scored + run.rejected),
        (f"scored {run.scored} = rows in {PREDICTIONS_TABLE} {scored}", run.scored == scored),
        (f"rejected {run.rejected} = rows in {REJECTS_TABLE} {rejected}", run.rejected == rejected),
    ]
    print("reconciliation:")
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
    failed = [text for text, ok in checks if not ok]
    if failed:
        raise JobError(f"run {pid} does not reconcile: {'; '.join(failed)}")


def report(spark, summary: dict, warehouse: Path, models: Path) -> None:
    pid = summary["pipeline_id"]
    print("\n" + "=" * 78)
    show_model_versions(spark, models)
    reconcile(spark, warehouse, pid)
    print(
        "predictions    " + ", ".join(f"{'churn' if k == '1' else 'stay'} ({k}): {v}" for k, v in summary["predictions"].items())
    )
    print("rejected rows by reason:")
    for r in summary["reject_reasons"] or [{"reason": "(none)", "rows": 0}]:
        print(f"  {r['rows']:>5}  {r['reason']}")
    query = f"SELECT ... FROM customer_churn_ds.batch_predictions WHERE pipeline_id='{pid}'"
    print(f"\nWhat `{query}` returns, top 5 by churn_probability:")
    rows = spark.read.parquet(str(warehouse / PREDICTIONS_TABLE)).where(F.col("pipeline_id") == pid)
    rows.select(
        "customer_id",
        "contract",
        "tenure_group",
        "internet_service",
        "monthly_charges",
        "prediction",
        F.round("churn_probability", 3).alias("churn_probability"),
    ).orderBy(F.desc("churn_probability")).show(5, truncate=False)
    print(f"predictions: {warehouse / PREDICTIONS_TABLE}/pipeline_id={pid}/")
    print(f"rejects:     {warehouse / REJECTS_TABLE}/pipeline_id={pid}/")
    print(f"run row:     {warehouse / RUNS_TABLE}/pipeline_id={pid}/")
    print("=" * 78)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the lab's data path locally.")
    p.add_argument("--workdir", type=Path, default=REPO / "local-run")
    p.add_argument("--model-version", help="score with this version instead of training a new one")
    a = p.parse_args(argv)
    now = datetime.now(timezone.utc)
    data, models, warehouse = a.workdir / "data", a.workdir / "models", a.workdir / "warehouse"

    written = sample_data.write_lab_samples(data)
    print(f"sample data: {', '.join(f'{n} ({c} rows)' for n, c in written.items())} in {data}")
    spark = get_spark("s8s-local-lab")
    spark.sparkContext.setLogLevel("ERROR")

    version = a.model_version
    if version is None:
        version = now.strftime("v%Y%m%dt%H%M%S")
        args = model_training.parse_args(
            ["--input", str(data / sample_data.TRAINING_FILE), "--models-root", str(models), "--model-version", version]
        )
        model_training.train(spark, args)
    cfg = batch_scoring.parse_args(
        [
            "--pipeline-id",
            now.strftime("local-%Y%m%dt%H%M%S"),
            "--model-version",
            version,
            "--input",
            str(data / sample_data.SCORING_FILE),
            "--models-root",
            str(models),
            "--sink",
            "local",
            "--output",
            str(warehouse),
        ]
    )
    summary = batch_scoring.run(spark, cfg)
    report(spark, summary, warehouse, models)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
