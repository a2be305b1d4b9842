"""Model choice for scoring: held-out AUC against scoring throughput, on the lab's training data.

    PYTHONPATH=pyspark .venv/spark/bin/python -m bench.models [--rows 1000000]

Every candidate trains on the same 80% of pyspark/data/training.csv (the split model_training.py
makes, seed 42) and is evaluated on the other 20%. Throughput is scoring alone: the candidate's
transform over N preprocessed rows (the lab's scoring sample repeated), cached beforehand, written
to Spark's no-op sink; one warm-up run, then the median of three, in one local[*] session.
Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from pyspark.sql import SparkSession  # noqa: E402
from s8s_churn.features import valid_features  # noqa: E402
from s8s_churn.model import LogisticModel, build_pipeline, score  # noqa: E402
from s8s_churn.validation import checked_rows  # noqa: E402


def candidates():
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier, LogisticRegression

    def spark_ml(estimator):
        stages = build_pipeline().getStages()[:-1]  # the forest's own feature stages
        return lambda rows: Pipeline(stages=[*stages, estimator]).fit(rows)

    return {
        "forest, 60 trees, depth 8 (before)": lambda rows: build_pipeline(num_trees=60, max_depth=8).fit(rows),
        "forest, 20 trees, depth 6": lambda rows: build_pipeline(num_trees=20, max_depth=6).fit(rows),
        "gradient-boosted trees, 50 x depth 4": spark_ml(GBTClassifier(maxIter=50, maxDepth=4, seed=42)),
        "logistic regression, Spark ML pipeline": spark_ml(LogisticRegression(regParam=0.001, maxIter=100)),
        "logistic regression as SQL (chosen)": lambda rows: LogisticModel.fit(rows)[0],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows scored per timing (default 1,000,000)")
    a = p.parse_args()
    spark = (
        SparkSession.builder.master("local[*]")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    data = REPO / "pyspark" / "data"
    train, test = valid_features(checked_rows(spark, str(data / "training.csv"), True)).randomSplit([0.8, 0.2], seed=42)
    train, test = train.cache(), test.cache()
    sample = valid_features(checked_rows(spark, str(data / "scoring.csv"), False)).cache()
    copies = -(-a.rows // sample.count())
    many = sample.crossJoin(spark.range(copies).withColumnRenamed("id", "copy")).limit(a.rows).drop("copy").cache()
    many.count()
    auc = BinaryClassificationEvaluator(labelCol="label", rawPredictionCol="churn_probability")

    print(f"| model | held-out AUC | scoring rows/s ({a.rows:,} rows, median of 3) |")
    print("| --- | ---: | ---: |")
    for name, fit in candidates().items():
        model = fit(train)
        held_out = auc.evaluate(score(model, test))
        timings = []
        for attempt in range(4):
            started = time.monotonic()
            score(model, many).select("prediction", "churn_probability").write.format("noop").mode("overwrite").save()
            if attempt:  # the first run warms the JIT up
                timings.append(time.monotonic() - started)
        print(f"| {name} | {held_out:.4f} | {a.rows / statistics.median(timings):,.0f} |", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
