"""The lab's data path on this machine, no cloud account: generate, train, score, report.

Run through `npm run local` (the Spark environment's `python -m local.cli`, from the repository root
with the jobs' folder pyspark/ on PYTHONPATH). By default it runs
through the cloud twin (local/twin): Cloud Storage and BigQuery emulators holding the buckets,
dataset and tables the stack synthesizes. The sample data goes to the data bucket, the model to
the models bucket, the scoring job runs with --sink bigquery, and the report is what the
walkthrough's queries (README.md, read from the file) return from the emulated BigQuery.

`--sink local` needs no server: Parquet tables under local-run/warehouse/, read back with Spark.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from local import sample_data, twin
from local.dataproc.batch import twin_spark
from local.twin import sql as twin_sql
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from s8s_churn import scoring, training
from s8s_churn.contract import LAB, PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE
from s8s_churn.job import JobError, get_spark, run_main
from s8s_churn.registry import read_model_versions

REPO = Path(__file__).resolve().parents[1]

DATASET = LAB["dataset_id"]
MODELS_PREFIX = LAB["models_prefix"]


def check_counts(pid: str, run: dict, scored: int, rejected: int) -> None:
    """What the scoring DAG's check task verifies: the run row's counts against the rows written."""
    checks = [
        (
            f"read {run['read']} = scored {run['scored']} + rejected {run['rejected']}",
            run["read"] == run["scored"] + run["rejected"],
        ),
        (f"scored {run['scored']} = rows in {PREDICTIONS_TABLE} {scored}", run["scored"] == scored),
        (f"rejected {run['rejected']} = rows in {REJECTS_TABLE} {rejected}", run["rejected"] == rejected),
    ]
    print("reconciliation:")
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
    failed = [text for text, ok in checks if not ok]
    if failed:
        raise JobError(f"run {pid} does not reconcile: {'; '.join(failed)}")


def print_rows(rows: list[dict], limit: int = 10) -> None:
    if not rows:
        print("  (no rows)")
        return
    columns = list(rows[0])
    shown = [[_text(r[c]) for c in columns] for r in rows[:limit]]
    widths = [max(len(c), *(len(r[i]) for r in shown)) for i, c in enumerate(columns)]
    print("  " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)))
    for r in shown:
        print("  " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)))
    if len(rows) > limit:
        print(f"  ... {len(rows) - limit} more rows")


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def report_from_bigquery(state: twin.TwinState, pid: str) -> None:
    """The walkthrough's queries, as written in README.md, run in the emulated BigQuery."""
    from s8s_churn.sinks import bigquery_client

    client = bigquery_client(state.project)
    print("\n" + "=" * 78)
    for q in twin_sql.documented_queries():
        if not q.source.startswith("README.md"):
            continue
        rows = twin_sql.run(client, q.sql, pid)
        print(f"{q.source}: {twin_sql.bind(' '.join(q.sql.split()), pid)}")
        if PREDICTIONS_TABLE in q.sql and "SELECT *" in q.sql:
            rows = sorted(rows, key=lambda r: -r["churn_probability"])
            rows = [
                {
                    k: r[k]
                    for k in ("customer_id", "contract", "tenure_group", "monthly_charges", "prediction", "churn_probability")
                }
                for r in rows
            ]
            print(f"  {len(rows)} rows; top 5 by churn_probability:")
            print_rows(rows, 5)
        else:
            print_rows(rows)
    table = f"`{state.project}.{DATASET}`"
    counts = {t: state.pipeline_rows(t, pid, DATASET) for t in (PREDICTIONS_TABLE, REJECTS_TABLE)}
    (run,) = [dict(r.items()) for r in client.query(f"SELECT * FROM {table}.{RUNS_TABLE} WHERE pipeline_id = '{pid}'").result()]
    check_counts(pid, run, counts[PREDICTIONS_TABLE], counts[REJECTS_TABLE])
    print(f"BigQuery emulator: {state.bigquery_endpoint} (project {state.project}); Cloud Storage emulator: {state.gcs_endpoint}")
    print("emulator memory (RSS): " + ", ".join(f"{name} {mib} MiB" for name, mib in twin.memory_mib(state).items()))
    print("=" * 78)


def report_from_parquet(spark: SparkSession, warehouse: Path, models: Path, pid: str) -> None:
    """--sink local: the same questions answered from the Parquet tables."""
    print("\n" + "=" * 78)
    print(f"SELECT ... FROM {DATASET}.model_versions ORDER BY trained_at DESC:")
    read_model_versions(spark, str(models)).select(
        "version", "trained_at", F.col("metrics.auc").alias("auc"), "rows_read", "input"
    ).orderBy(F.desc("trained_at")).show(10, truncate=False)
    runs = [r.asDict() for r in spark.read.parquet(str(warehouse / RUNS_TABLE)).where(F.col("pipeline_id") == pid).collect()]
    if len(runs) != 1:
        raise JobError(f"{RUNS_TABLE} holds {len(runs)} rows for pipeline_id {pid}; expected exactly 1")
    print(f"SELECT * FROM {DATASET}.{RUNS_TABLE} WHERE pipeline_id='{pid}':")
    print_rows(runs)
    written = {
        t: spark.read.parquet(str(warehouse / t)).where(F.col("pipeline_id") == pid).count()
        for t in (PREDICTIONS_TABLE, REJECTS_TABLE)
    }
    check_counts(pid, runs[0], written[PREDICTIONS_TABLE], written[REJECTS_TABLE])
    print(f"tables: {warehouse}/<table>/pipeline_id={pid}/")
    print("=" * 78)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the lab's data path locally.")
    p.add_argument("--workdir", type=Path, default=REPO / "local-run")
    p.add_argument(
        "--sink",
        choices=["bigquery", "local"],
        default="bigquery",
        help="bigquery: through the cloud twin (default); local: Parquet, no servers",
    )
    p.add_argument("--twin", type=Path, help="use the twin already running from this state folder (left running)")
    p.add_argument("--model-version", help="score with this version instead of training a new one")
    p.add_argument("--pipeline-id", help="default: local-<UTC time>")
    p.add_argument("--batch-id", default="local", help="the batch id the run records in batch_runs")
    a = p.parse_args(argv)
    now = datetime.now(timezone.utc)
    pid = a.pipeline_id or now.strftime("local-%Y%m%dt%H%M%S")
    data = a.workdir / "data"
    written = sample_data.write_lab_samples(data)
    print(f"sample data: {', '.join(f'{n} ({c} rows)' for n, c in written.items())} in {data}")

    state = None
    if a.sink == "bigquery":
        from local.connector import bigquery as connector

        started = a.twin is None
        try:
            state = twin.up(a.workdir / "twin") if started else twin.TwinState.load(a.twin)
        except twin.TwinError as e:
            raise JobError(str(e)) from e
        os.environ.update(state.client_env())
        connector.install()
        stack = state.stack()
        buckets = {purpose: twin.bucket(stack, purpose) for purpose in ("data", "models", "spark")}
        inputs = {f: twin.upload(state, buckets["data"], f"data/{f}", data / f) for f in written}
        models_root = f"gs://{buckets['models']}/{MODELS_PREFIX}"
        sink_args = ["--sink", "bigquery", "--project", state.project, "--dataset", DATASET, "--temp-bucket", buckets["spark"]]
        twin_spark(state)  # gs:// to the emulator; get_spark below adds the jobs' own settings
        spark = get_spark("s8s-local-lab")
    else:
        inputs = {f: str(data / f) for f in written}
        models_root = str(a.workdir / "models")
        sink_args = ["--sink", "local", "--output", str(a.workdir / "warehouse")]
        spark = get_spark("s8s-local-lab")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        version = a.model_version
        if version is None:
            version = now.strftime("v%Y%m%dt%H%M%S")
            args = ["--input", inputs[sample_data.TRAINING_FILE], "--models-root", models_root, "--model-version", version]
            training.train(spark, training.parse_args(args))
        if state is not None:
            twin.load_model_versions(state, stack)
        cfg = scoring.parse_args(
            ["--pipeline-id", pid, "--model-version", version, "--input", inputs[sample_data.SCORING_FILE],
             "--models-root", models_root, "--batch-id", a.batch_id, *sink_args]
        )  # fmt: skip
        summary = scoring.run(spark, cfg)
        print(
            "predictions    "
            + ", ".join(f"{'churn' if k == '1' else 'stay'} ({k}): {v}" for k, v in summary["predictions"].items())
        )
        if state is not None:
            report_from_bigquery(state, pid)
        else:
            report_from_parquet(spark, a.workdir / "warehouse", a.workdir / "models", pid)
    finally:
        spark.stop()
        if state is not None and a.twin is None:
            twin.down(Path(state.root))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
