"""The lab's data path on embedded Spark, no cloud account: generate, train, score, report.

Run through `npm run local` (which prepares the Python environment). Writes under local-run/:
  data/        the sample input (the same files the stack uploads to the data bucket)
  models/      one folder per trained model version (what the models bucket holds)
  warehouse/   batch_predictions/ and batch_rejects/ as Parquet, partitioned by pipeline_id
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
from lab_contract import PREDICTIONS_TABLE, REJECTS_TABLE  # noqa: E402
from lab_job import get_spark, run_main  # noqa: E402
from lab_registry import resolve_model_version  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402


def report(spark, summary: dict, warehouse: Path, metrics: dict) -> None:
    pid = summary["pipeline_id"]
    print("\n" + "=" * 78)
    print(f"pipeline_id    {pid}")
    print(f"model_version  {summary['model_version']}")
    print("model metrics  " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    print(f"rows           read={summary['read']} scored={summary['scored']} rejected={summary['rejected']}")
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
    meta = resolve_model_version(spark, str(models), summary["model_version"])
    report(spark, summary, warehouse, meta["metrics"])
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
