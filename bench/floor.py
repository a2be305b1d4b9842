"""The I/O floor the scoring benchmark compares the job with: read the customer CSV with an
explicit schema (every column as text, as the job reads it) and write it as Parquet. Nothing else.

    spark-submit bench/floor.py INPUT.csv OUTPUT_DIR
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import types as T


def main(argv: list[str]) -> int:
    source, target = argv
    spark = SparkSession.builder.appName("s8s-io-floor").getOrCreate()
    # The header names the columns; reading one line in the driver keeps it out of Spark's work.
    with open(source, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    schema = T.StructType([T.StructField(name, T.StringType(), True) for name in header])
    spark.read.schema(schema).option("header", True).csv(source).write.mode("overwrite").parquet(target)
    return 0  # like the job, leaves stopping Spark to the process exit


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
