"""Trains the churn model, evaluates it on a held-out split and registers it as a version.

    model_training.py --input gs://.../training.csv --models-root gs://.../churn-model [--model-version V]

The version's folder holds the model (model/logistic.json, or a Spark PipelineModel with
--model forest) and metadata.json (metrics, row counts, time).
metadata.json is written last; the scoring job's `latest` is the newest version that has one.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from s8s_churn.contract import REJECT_REASON
from s8s_churn.drift import training_baseline
from s8s_churn.features import valid_features
from s8s_churn.job import JobError, get_spark
from s8s_churn.model import DEFAULT_REG_PARAM, LOGISTIC, MODEL_KINDS, LogisticModel, build_pipeline, category_levels, score
from s8s_churn.registry import (
    DEFAULT_MAX_AUC_DROP,
    DEFAULT_MIN_AUC,
    check_model_version,
    list_models,
    newest_promoted,
    promotion_verdict,
    save_model,
    timestamp_text,
)
from s8s_churn.validation import checked_rows

log = logging.getLogger("s8s.training")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train and register the churn model.")
    p.add_argument("--input", required=True, help="labelled customer CSV (with Churn)")
    p.add_argument("--models-root", required=True, help="folder that holds one folder per model version")
    p.add_argument("--model-version", help="name of the new version; default: v<UTC time>")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of rows held out for evaluation")
    p.add_argument("--model", choices=MODEL_KINDS, default=LOGISTIC, help="logistic (default; scored as SQL) or forest")
    p.add_argument("--reg-param", type=float, default=DEFAULT_REG_PARAM, help="logistic: L2 regularization")
    p.add_argument("--num-trees", type=int, default=60, help="forest: number of trees")
    p.add_argument("--max-depth", type=int, default=8, help="forest: maximum depth")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--min-auc", type=float, default=DEFAULT_MIN_AUC, help=f"promotion gate: held-out AUC floor (default {DEFAULT_MIN_AUC})"
    )
    p.add_argument(
        "--max-auc-drop",
        type=float,
        default=DEFAULT_MAX_AUC_DROP,
        help=f"promotion gate: how far below the promoted version's AUC it may be (default {DEFAULT_MAX_AUC_DROP})",
    )
    a = p.parse_args(argv)
    if not 0.5 <= a.min_auc <= 1:
        p.error(f"--min-auc: {a.min_auc} is outside 0.5-1")
    if not 0 <= a.max_auc_drop <= 0.5:
        p.error(f"--max-auc-drop: {a.max_auc_drop} is outside 0-0.5")
    if not 0.05 <= a.test_fraction <= 0.5:
        p.error(f"--test-fraction: {a.test_fraction} is outside 0.05-0.5")
    if a.num_trees < 1 or not 1 <= a.max_depth <= 30:
        p.error(f"--num-trees {a.num_trees} / --max-depth {a.max_depth}: expected >= 1 trees and a depth of 1-30")
    if not 0 <= a.reg_param <= 10:
        p.error(f"--reg-param: {a.reg_param} is outside 0-10")
    a.model_version = a.model_version or datetime.now(timezone.utc).strftime("v%Y%m%dt%H%M%S")
    try:
        check_model_version(a.model_version, allow_latest=False)
    except JobError as e:
        p.error(f"--model-version: {e}")
    return a


def evaluate(predictions: DataFrame) -> dict[str, float]:
    """AUC, accuracy, and precision and recall of the churn class on held-out rows."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    # The churn probability ranks rows as the forest's votes do, and the logistic model has no vector.
    auc = BinaryClassificationEvaluator(labelCol="label", rawPredictionCol="churn_probability", metricName="areaUnderROC")
    c = predictions.select(
        F.sum(((F.col("prediction") == 1) & (F.col("label") == 1)).cast("long")).alias("tp"),
        F.sum(((F.col("prediction") == 1) & (F.col("label") == 0)).cast("long")).alias("fp"),
        F.sum(((F.col("prediction") == 0) & (F.col("label") == 1)).cast("long")).alias("fn"),
        F.count(F.lit(1)).alias("n"),
        F.sum((F.col("prediction") == F.col("label")).cast("long")).alias("correct"),
    ).first()
    tp, fp, fn, n, correct = (c[k] or 0 for k in ("tp", "fp", "fn", "n", "correct"))
    return {
        "auc": round(auc.evaluate(predictions), 4),
        "accuracy": round(correct / n, 4) if n else 0.0,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "test_rows": n,
    }


def train(spark: SparkSession, a: argparse.Namespace) -> dict:
    checked = checked_rows(spark, a.input, with_label=True)
    checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    read = checked.count()
    reasons = checked.where(F.col(REJECT_REASON).isNotNull()).groupBy(REJECT_REASON).count().collect()
    rejected = sum(r["count"] for r in reasons)
    for r in reasons:
        log.warning("skipped %d training row(s): %s", r["count"], r[REJECT_REASON])
    rows = valid_features(checked)
    train_rows, test_rows = rows.randomSplit([1 - a.test_fraction, a.test_fraction], seed=a.seed)
    if train_rows.where("label = 1").limit(1).count() == 0 or train_rows.where("label = 0").limit(1).count() == 0:
        raise JobError(f"training data {a.input} needs both churned and retained customers")

    if a.model == LOGISTIC:
        model, _ = LogisticModel.fit(train_rows, reg_param=a.reg_param)
        forest = {"num_trees": None, "max_depth": None}
    else:
        model = build_pipeline(seed=a.seed, num_trees=a.num_trees, max_depth=a.max_depth).fit(train_rows)
        forest = {"num_trees": a.num_trees, "max_depth": a.max_depth}
    scored_test = score(model, test_rows).cache()
    metrics = evaluate(scored_test)
    baseline = training_baseline(train_rows, scored_test, category_levels(train_rows))
    scored_test.unpersist()
    # The gate compares with what 'latest' scores with now, before this version exists.
    others = [m for m in list_models(spark, a.models_root) if m["version"] != a.model_version]
    promotion = promotion_verdict(metrics["auc"], newest_promoted(others), a.min_auc, a.max_auc_drop)
    log.info("promotion gate for %s: %s", a.model_version, promotion["reason"])
    metadata = {
        "version": a.model_version,
        "trained_at": timestamp_text(datetime.now(timezone.utc)),
        "input": a.input,
        "rows_read": read,
        "rows_rejected": rejected,
        "metrics": metrics,
        "params": {**forest, "seed": a.seed, "test_fraction": a.test_fraction},
        "spark_version": spark.version,
        "promotion": promotion,
        "drift_baseline": baseline,
    }
    where = save_model(spark, a.models_root, a.model_version, model, metadata)
    checked.unpersist()
    log.info("registered model %s at %s: %s", a.model_version, where, metrics)
    return metadata


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    spark = get_spark("s8s-model-training")
    print("TRAINED " + json.dumps(train(spark, a), sort_keys=True))
    return 0
