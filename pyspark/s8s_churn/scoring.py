"""Scores customers for churn with a trained model version.

On Dataproc Serverless (what the scoring DAG submits):
    batch_scoring.py --pipeline-id ID --model-version latest --input gs://.../scoring.csv
        --models-root gs://.../churn-model --sink bigquery --project P --dataset customer_churn_ds
        --temp-bucket B --batch-id BATCH
Locally:
    batch_scoring.py --pipeline-id ID --input pyspark/data/scoring.csv --models-root DIR
        --sink local --output DIR

Every input row ends up either in batch_predictions or in batch_rejects with its reason; the job
logs read = scored + rejected and fails if that does not hold. After both tables are written, the
run's counts go to batch_runs (one row per pipeline_id), where the DAG's check task reconciles them.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from s8s_churn.contract import DRIFT_TABLE, PREDICTIONS_TABLE, REJECT_REASON, REJECTS_TABLE, RUNS_TABLE, conform, spark_schema
from s8s_churn.drift import (
    HIGH_PSI,
    INPUT_KINDS,
    MODERATE_PSI,
    NO_BASELINE,
    SCORE_KINDS,
    bin_count_columns,
    bin_count_names,
    check_baseline,
    drift_rows,
    observe_bins,
    overall_status,
    with_bins,
)
from s8s_churn.features import valid_features
from s8s_churn.job import LOCAL_BATCH_ID, JobError, batch_id_arg, get_spark, parse_timestamp, pipeline_id_arg
from s8s_churn.model import explain, load_model, predict
from s8s_churn.registry import LATEST, METADATA_FILE, check_model_version, resolve_model_version
from s8s_churn.rejects import KEPT, kept, kept_frame, kept_rows, numbered, rejects_of, top_reasons, without_number
from s8s_churn.sinks import BigQuerySink, LocalSink, literal_rows, run_labels, run_row
from s8s_churn.validation import checked_rows

log = logging.getLogger("s8s.scoring")


@dataclass(frozen=True)
class ScoringConfig:
    pipeline_id: str
    model_version: str
    input: str
    models_root: str
    sink: LocalSink | BigQuerySink
    execution_ts: datetime
    show_samples: bool
    batch_id: str = LOCAL_BATCH_ID
    # PSI thresholds of the run's drift_status (the DAG passes its drift variables).
    drift_moderate: float = MODERATE_PSI
    drift_high: float = HIGH_PSI
    # When the job started (its arguments were parsed): batch_runs.started_at.
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def parse_args(argv: list[str] | None) -> ScoringConfig:
    p = argparse.ArgumentParser(description="Score customers for churn.")
    p.add_argument("--pipeline-id", required=True, type=pipeline_id_arg, help="id of this run; its rows are replaced on rerun")
    p.add_argument("--model-version", default=LATEST, help="a trained version, or latest (default)")
    p.add_argument("--input", required=True, help="customer CSV (gs://, file:// or a local path)")
    p.add_argument("--models-root", required=True, help="folder holding <version>/model and metadata.json")
    p.add_argument("--sink", choices=["bigquery", "local"], required=True)
    p.add_argument("--output", help="local sink: folder for the batch_predictions and batch_rejects tables")
    p.add_argument("--project", help="bigquery sink: project of the dataset")
    p.add_argument("--dataset", help="bigquery sink: dataset, e.g. customer_churn_ds")
    p.add_argument("--temp-bucket", help="bigquery sink: bucket for the connector's load files")
    p.add_argument("--execution-ts", type=parse_timestamp, help="pipeline_execution_dt (ISO 8601); default: now")
    p.add_argument(
        "--batch-id",
        type=batch_id_arg,
        default=LOCAL_BATCH_ID,
        help=f"the Dataproc batch running this job, for batch_runs (default: {LOCAL_BATCH_ID})",
    )
    p.add_argument(
        "--show-samples",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print a few scored rows (from the cached result; no extra read)",
    )
    p.add_argument("--drift-moderate", type=float, default=MODERATE_PSI, help=f"PSI of a moderate drift (default {MODERATE_PSI})")
    p.add_argument("--drift-high", type=float, default=HIGH_PSI, help=f"PSI of a high drift (default {HIGH_PSI})")
    a = p.parse_args(argv)
    if not 0 < a.drift_moderate <= a.drift_high:
        p.error(f"--drift-moderate {a.drift_moderate} / --drift-high {a.drift_high}: expected 0 < moderate <= high")
    try:
        check_model_version(a.model_version, allow_latest=True)
    except JobError as e:
        p.error(f"--model-version: {e}")
    if a.sink == "local":
        if not a.output:
            p.error("--output is required with --sink local")
        sink: LocalSink | BigQuerySink = LocalSink(a.output)
    else:
        missing = [f"--{n.replace('_', '-')}" for n in ("project", "dataset", "temp_bucket") if not getattr(a, n)]
        if missing:
            p.error(f"{', '.join(missing)} required with --sink bigquery")
        try:  # before any Spark work: a missing client library fails the batch in seconds
            sink = BigQuerySink.connect(a.project, a.dataset, a.temp_bucket, run_labels(a.pipeline_id, a.batch_id))
        except JobError as e:
            p.error(f"--sink bigquery: {e}")
    return ScoringConfig(
        pipeline_id=a.pipeline_id,
        model_version=a.model_version,
        input=a.input,
        models_root=a.models_root,
        sink=sink,
        execution_ts=a.execution_ts or datetime.now(timezone.utc),
        show_samples=a.show_samples,
        batch_id=a.batch_id,
        drift_moderate=a.drift_moderate,
        drift_high=a.drift_high,
    )


def run_record(cfg: ScoringConfig, model_version: str, read: int, scored: int, rejected: int, drift_status: str) -> dict:
    """The run's batch_runs row, once both output tables are written (so ended_at is now)."""
    return run_row(
        pipeline_id=cfg.pipeline_id,
        batch_id=cfg.batch_id,
        model_version=model_version,
        input_uri=cfg.input,
        read=read,
        scored=scored,
        rejected=rejected,
        started_at=cfg.started_at,
        ended_at=datetime.now(timezone.utc),
        pipeline_execution_dt=cfg.execution_ts,
        drift_status=drift_status,
    )


def drift_table_rows(spark: SparkSession, cfg: ScoringConfig, version: str, rows: list[dict]) -> DataFrame:
    """The run's batch_drift rows as a DataFrame of literals (no Python worker)."""
    full = [
        {**r, "pipeline_id": cfg.pipeline_id, "model_version": version, "pipeline_execution_dt": cfg.execution_ts} for r in rows
    ]
    return literal_rows(spark, full, spark_schema(DRIFT_TABLE))


def with_run_columns(df: DataFrame, cfg: ScoringConfig, model_version: str) -> DataFrame:
    return df.withColumns(
        {
            "model_version": F.lit(model_version),
            "pipeline_id": F.lit(cfg.pipeline_id),
            "pipeline_execution_dt": F.lit(cfg.execution_ts).cast("timestamp"),
        }
    )


TOP_REASONS = 20
# Observed metrics reach the driver through the listener bus right after the write; Observation.get
# blocks until then (https://spark.apache.org/docs/3.5.3/api/python/reference/pyspark.sql/api/
# pyspark.sql.Observation.get.html). A write that never ran the observed plan must fail the job,
# not leave it waiting. The BigQuery connector's indirect write runs one (BigQueryWriteHelper in
# GoogleCloudDataproc/spark-bigquery-connector saves the DataFrame with a Spark file write first).
METRICS_WAIT_S = 300


def observed(observation: Observation, what: str, names: tuple[str, ...]) -> dict:
    """The metrics an Observation collected during the write of `what`, or a JobError."""
    box: dict = {}
    waiter = threading.Thread(target=lambda: box.update(observation.get), daemon=True)
    waiter.start()
    waiter.join(METRICS_WAIT_S)
    missing = [n for n in names if n not in box]
    if missing:
        raise JobError(
            f"the counts {missing} of {what} were not reported within {METRICS_WAIT_S} s of the write; cannot reconcile"
        )
    return box


def reconcile(read: int, scored: int, rejected: int) -> None:
    """Every row read was scored or rejected, or the job fails (non-zero exit, no batch_runs row)."""
    log.info("RECONCILIATION read=%d scored=%d rejected=%d", read, scored, rejected)
    if read != scored + rejected:
        raise JobError(f"reconciliation failed: read {read} rows but scored {scored} and rejected {rejected}")


def run(spark: SparkSession, cfg: ScoringConfig) -> dict:
    """Scores the input in one pass over it, counting while the predictions are written.

    The counts come from Observations (DataFrame.observe): they are computed by the write itself and
    can be read once it finished, so there is no cache and no counting job. The rejected rows are
    kept by the first pass when they are few (s8s_churn.rejects), so such an input is read once;
    when more are rejected they go out in a second, filtered read of the input, which costs less
    than caching every row to serve two writes (docs/benchmark.md). The reconciliation runs after
    the writes; a mismatch fails the job before its batch_runs row is written, so the run is never
    reported as complete.
    """
    started = time.monotonic()
    model_meta = resolve_model_version(spark, cfg.models_root, cfg.model_version)
    version = model_meta["version"]
    model = load_model(spark, cfg.models_root, version)
    log.info(
        "scoring %s with model %s (trained %s) as pipeline_id=%s", cfg.input, version, model_meta["trained_at"], cfg.pipeline_id
    )

    unobserved = checked_rows(spark, cfg.input, with_label=False)  # checks the file and its header once, for both passes
    input_seen = Observation("input_rows")
    checked = without_number(
        numbered(unobserved).observe(
            input_seen,
            F.count(F.lit(1)).alias("read"),
            F.count(F.col(REJECT_REASON)).alias("rejected"),
            kept(unobserved, unobserved.rdd.getNumPartitions()),
        )
    )
    # Drift is counted by Observations of the predictions write itself: the baseline's bins, as
    # aggregates over the very rows being written (no second read, no cache), the inputs' bins as
    # the rows reach the model, the scores' bins with the written rows' count as they leave it.
    # After that the rows only gain and lose columns (a test holds the plan to projections), so
    # every row counted is a row written. Being plan nodes Spark does not fuse across, the
    # Observations also split the stage's generated code into parts small enough for the JIT to
    # compile (docs/benchmark.md, "Reasons and drift").
    baseline = check_baseline(model_meta.get("drift_baseline"), f"model {version}'s {METADATA_FILE}")
    inputs_binned, predictions_written = Observation("input_drift"), Observation("predictions_written")
    features = observe_bins(valid_features(checked), inputs_binned, baseline, INPUT_KINDS)
    predicted = with_bins(predict(model, features), baseline, SCORE_KINDS).observe(
        predictions_written,
        F.count(F.lit(1)).alias("scored"),
        F.coalesce(F.sum("prediction"), F.lit(0)).alias("churn"),
        *bin_count_columns(baseline, SCORE_KINDS),
    )
    predictions = conform(with_run_columns(explain(model, predicted), cfg, version), PREDICTIONS_TABLE)
    cfg.sink.require_tables((PREDICTIONS_TABLE, DRIFT_TABLE, REJECTS_TABLE, RUNS_TABLE))
    # An earlier attempt's BigQuery job still running could land after this attempt's DELETE.
    cfg.sink.fence_earlier_attempts()
    cfg.sink.replace(spark, PREDICTIONS_TABLE, cfg.pipeline_id, predictions)
    seen = observed(input_seen, "the input", ("read", "rejected", KEPT))
    written = observed(predictions_written, PREDICTIONS_TABLE, ("scored", "churn", *bin_count_names(baseline, SCORE_KINDS)))
    read, scored_count, churn = seen["read"], written["scored"], written["churn"]

    if baseline:
        names = bin_count_names(baseline, INPUT_KINDS)
        bins = {**written, **(observed(inputs_binned, PREDICTIONS_TABLE, names) if names else {})}
        drift = drift_rows(baseline, bins, cfg.drift_moderate, cfg.drift_high)
        drift_status = overall_status(drift)
    else:  # a version trained before baselines were recorded
        log.warning("model %s has no drift baseline (trained before it was recorded): drift not measured", version)
        drift, drift_status = [], NO_BASELINE
    cfg.sink.replace(spark, DRIFT_TABLE, cfg.pipeline_id, drift_table_rows(spark, cfg, version, drift))
    for r in drift:
        if r["status"] != "ok":
            log.warning(
                "DRIFT %s %s: psi=%.4f js=%.4f, %s", r["status"], r["feature"], r["psi"], r["js_distance"], r["largest_shift"]
            )

    reasons: list[tuple[str, int]] = []
    kept_rejects = kept_rows(seen[KEPT])
    if seen["rejected"] and len(kept_rejects) == seen["rejected"]:  # every one kept by the first pass
        rejects = conform(with_run_columns(kept_frame(spark, seen[KEPT]), cfg, version), REJECTS_TABLE)
        cfg.sink.replace(spark, REJECTS_TABLE, cfg.pipeline_id, rejects)
        rejected_count = len(kept_rejects)
        reasons = top_reasons(kept_rejects, TOP_REASONS)
    elif seen["rejected"]:
        # Read again, cached while written: only the rejected rows, counted and summarized from the cache.
        log.info("%d rejected rows, more than the first pass keeps: reading the input again for them", seen["rejected"])
        rejects = conform(with_run_columns(rejects_of(unobserved), cfg, version), REJECTS_TABLE)
        rejects = rejects.persist(StorageLevel.MEMORY_AND_DISK)
        cfg.sink.replace(spark, REJECTS_TABLE, cfg.pipeline_id, rejects)
        rejected_count = rejects.count()
        top = rejects.groupBy(REJECT_REASON).count().orderBy(F.desc("count"), REJECT_REASON).limit(TOP_REASONS).collect()
        reasons = [(r[REJECT_REASON], r["count"]) for r in top]
        rejects.unpersist()
    else:  # still replaces what an earlier attempt of this pipeline_id rejected
        rejected_count = 0
        cfg.sink.replace(spark, REJECTS_TABLE, cfg.pipeline_id, spark.createDataFrame([], spark_schema(REJECTS_TABLE)))

    reconcile(read, scored_count, rejected_count)
    cfg.sink.record_run(spark, run_record(cfg, version, read, scored_count, rejected_count, drift_status))

    if cfg.show_samples:
        shown = ["customer_id", "contract", "tenure_group", "monthly_charges", "prediction", "churn_probability"]
        predictions.select(shown).show(5, truncate=False)  # reads only as far as the first rows
    by_prediction = {"0": scored_count - churn, "1": churn}
    return {
        "pipeline_id": cfg.pipeline_id,
        "model_version": version,
        "model_metrics": model_meta.get("metrics", {}),
        "read": read,
        "scored": scored_count,
        "rejected": rejected_count,
        "predictions": {k: v for k, v in by_prediction.items() if v},
        "reject_reasons": [{"reason": r, "rows": n} for r, n in reasons],
        "drift_status": drift_status,
        "drift": {r["feature"]: {"psi": r["psi"], "js_distance": r["js_distance"], "status": r["status"]} for r in drift},
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    spark = get_spark("s8s-batch-scoring")
    summary = run(spark, cfg)
    print("SUMMARY " + json.dumps(summary, sort_keys=True))
    return 0
