"""`npm run local`: module 8's walkthrough on this machine, no cloud account and no Docker.

Run through `npm run local` (the Spark environment's `python -m local.cli`, from the repository root
with the jobs' folder pyspark/ on PYTHONPATH); docs/local-lab.md.

- Default: the cloud twin with the stack deployed into it, the Dataproc twin, a Spark History Server
  and a real Airflow 3 (local/walkthrough.py); a training run and a scoring run of the lab's DAGs
  through Airflow's REST API; the README's seed-7.5 queries on the emulated BigQuery and the
  reconciliation; then everything stopped. A failed run exits 2 naming the DAG, the task and the
  batch with its state_message.
- `--ui`: the same parts left running for a person (Ctrl-C, or `npm run local -- down`, stops them).
- `query SQL`: SQL in the emulated BigQuery of a running lab.
- `--direct`: the jobs called directly on local Spark, without Airflow, through the cloud twin
  (Cloud Storage and BigQuery emulators); `--direct --sink local` needs no server (Parquet tables
  under local-run/warehouse/, read back with Spark).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from local import sample_data, twin
from local.connector.jars import ensure_jars, spark_conf
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


def twin_spark(state: twin.TwinState) -> SparkSession:
    """The session the jobs get from get_spark, with gs:// sent to the Cloud Storage emulator (the
    direct run, without Airflow; batches run in the Dataproc twin, local/dataproc)."""
    builder = SparkSession.builder
    for key, value in spark_conf(state, ensure_jars()).items():
        builder = builder.config(key, value)
    builder.getOrCreate()
    return get_spark("s8s-local-lab")


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


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(
        prog="npm run local --",
        description="Module 8's walkthrough on this machine: the lab's DAGs in a local Airflow over the cloud twin.",
        epilog="Default: start everything, run training then scoring through Airflow's REST API, print the results, "
        "stop. --ui: start everything and leave it running for a person (Ctrl-C or `npm run local -- down` stops it). "
        "--direct: run the jobs without Airflow, as spark-submit would.",
    )
    p.add_argument("action", nargs="?", choices=["walkthrough", "down", "query"], default="walkthrough",
                   help="down: stop what --ui left running (the state is kept); "
                        "query SQL: run SQL in the emulated BigQuery of a running lab")  # fmt: skip
    p.add_argument("sql", nargs="?", help="query only: the SQL (standard SQL; the dataset without a project is the lab's)")
    p.add_argument("--ui", action="store_true", help="leave Airflow, the history server and the twin running")
    p.add_argument("--direct", action="store_true", help="run the jobs directly, without Airflow (the earlier local run)")
    p.add_argument("--workdir", type=Path, default=REPO / "local-run")
    p.add_argument("--state-dir", type=Path, help="the twin's state folder (default: WORKDIR/twin); kept between starts")
    p.add_argument("--airflow-port", type=int, help="default: 8080 when free, else a free port")
    p.add_argument("--history-port", type=int, help="default: 18080 when free, else a free port")
    p.add_argument("--sink", choices=["bigquery", "local"], default="bigquery",
                   help="--direct only. bigquery: through the cloud twin (default); local: Parquet, no servers")  # fmt: skip
    p.add_argument("--twin", type=Path, help="--direct only: use the twin already running from this state folder")
    p.add_argument("--model-version", help="score with this version instead of training a new one")
    p.add_argument("--pipeline-id", help="--direct only; default: local-<UTC time>")
    p.add_argument("--batch-id", default="local", help="--direct only: the batch id the run records in batch_runs")
    a = p.parse_args(argv)
    a.state_dir = (a.state_dir or a.workdir / "twin").resolve()
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.action == "down":
        from local import walkthrough

        walkthrough.stop(a.state_dir)
        print(f"stopped the local lab of {a.state_dir} (its state is kept)")
        return 0
    if a.action == "query":
        if not a.sql:
            raise JobError('query needs the SQL to run, e.g. npm run local -- query "SELECT * FROM customer_churn_ds.batch_runs"')
        state = twin.TwinState.load(a.state_dir)
        rows = [dict(r.items()) for r in state.bigquery().query(a.sql).result()]
        print_rows(rows, limit=50)
        return 0
    if a.direct:
        return direct(a)
    direct_only = [f"--{n.replace('_', '-')}" for n in ("twin", "pipeline_id") if getattr(a, n)]
    direct_only += ["--sink"] * (a.sink != "bigquery") + ["--batch-id"] * (a.batch_id != "local")
    if direct_only:
        raise JobError(
            f"{', '.join(direct_only)} apply to the direct run only: add --direct (without it the DAGs run in Airflow)"
        )
    return through_airflow(a)


def through_airflow(a) -> int:
    """The walkthrough through the local Airflow (local/walkthrough.py), or, with --ui, everything
    left running until Ctrl-C. A failed run raises JobError naming the DAG, task and batch."""
    import signal

    from local import walkthrough
    from local.composer.airflow import AirflowError

    started_here = not (a.state_dir / "airflow" / "airflow.json").exists()
    try:
        lab = walkthrough.start(a.state_dir, a.airflow_port, a.history_port)
    except (AirflowError, walkthrough.LabError, twin.TwinError) as e:
        raise JobError(str(e)) from e
    print(f"all services healthy in {lab.timings['all_healthy']:.0f} s")
    if a.ui:
        print("\nThe local lab is running (state in " + str(a.state_dir) + "):")
        walkthrough.print_commands(lab, default_state=a.workdir / "twin")
        print("\nPress Ctrl-C to stop everything, or run `npm run local -- down` from another terminal.", flush=True)
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        try:
            while not stopping and any(lab.airflow.alive().values()):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        print("\nstopping the local lab ...", flush=True)
        walkthrough.stop(a.state_dir)
        print("stopped; state kept in " + str(a.state_dir))
        return 0
    try:
        result = walkthrough.walkthrough(lab, a.model_version)
        state = twin.TwinState.load(a.state_dir)
        os.environ.update(state.client_env())
        print(f"scoring run {result['run_id']}: model_version {result['model_version']}, pipeline_id {result['pipeline_id']}")
        print(
            "the DAG's check (check_predictions_written XCom): "
            + ", ".join(f"{k}={v}" for k, v in result["reconciliation"].items())
        )
        report_from_bigquery(state, result["pipeline_id"])
        print(f"history server applications: {len(lab.history.applications())} ({lab.history.url})")
        print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in lab.timings.items()))
    except AirflowError as e:
        raise JobError(str(e)) from e
    finally:
        if started_here:
            walkthrough.stop(a.state_dir)
    return 0


def direct(a) -> int:
    """The jobs run directly on local Spark, without Airflow (the earlier `npm run local`)."""
    now = datetime.now(timezone.utc)
    pid = a.pipeline_id or now.strftime("local-%Y%m%dt%H%M%S")
    data = a.workdir / "data"
    written = sample_data.write_lab_samples(data)
    print(f"sample data: {', '.join(f'{n} ({c} rows)' for n, c in written.items())} in {data}")

    state = None
    if a.sink == "bigquery":
        started = a.twin is None
        try:
            state = twin.up(a.state_dir) if started else twin.TwinState.load(a.twin)
        except twin.TwinError as e:
            raise JobError(str(e)) from e
        os.environ.update(state.client_env())
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
