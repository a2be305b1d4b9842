"""Rejected rows: kept from the scoring pass itself when they are few, read again when they are many.

The scoring pass reads the input once and writes the predictions; the rejected rows go to another
table. Reading the CSV again only to find them costs a whole second parse (about 21 s of a
10M-row run on the benchmark's machine: docs/benchmark.md), so the first pass keeps them: the
Observation that counts the rows read also collects the rejected ones, each as (customer_id,
reject_reason, raw_record). What an Observation collects is held in memory, by each task and then
by the driver, so it is bounded: a rejected row is kept only while it is among the first
KEEP_AT_MOST / partitions rejected rows of its partition (numbered as they are met:
monotonically_increasing_id, evaluated only for rejected rows, counts them within each
partition). When every rejected row was kept, they are written from what was kept; otherwise
(many rejects, or a partition holding most of them) the input is read again for them, as before.
"""

from __future__ import annotations

import json
from collections import Counter

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from s8s_churn.contract import REJECT_REASON

KEEP_AT_MOST = 1000
# The observed metric holding the kept rows, as a JSON array (a plain string reaches Python as is).
KEPT = "rejects_kept"
_NUMBER = "_reject_number"
# monotonically_increasing_id puts the partition in the upper 31 bits and counts in the lower 33.
_COUNTER_BITS = (1 << 33) - 1
_FIELDS = T.StructType([T.StructField(name, T.StringType()) for name in ("customer_id", REJECT_REASON, "raw_record")])


def _fields(checked: DataFrame) -> list[Column]:
    """A rejected row as batch_rejects wants it: the id, the reason and the row as read."""
    raw = [c for c in checked.columns if c not in (REJECT_REASON, _NUMBER)]
    return [
        F.col("customerID").alias("customer_id"),
        F.col(REJECT_REASON),
        F.to_json(F.struct(*raw), {"ignoreNullFields": "false"}).alias("raw_record"),
    ]


def rejects_of(checked: DataFrame) -> DataFrame:
    """The rejected rows of the input, read again."""
    return checked.where(F.col(REJECT_REASON).isNotNull()).select(*_fields(checked))


def numbered(checked: DataFrame) -> DataFrame:
    """`checked` with each rejected row's number among its partition's rejected rows (NULL for the
    others). The CASE evaluates the counter only for a rejected row, so only those are counted."""
    return checked.withColumn(_NUMBER, F.when(F.col(REJECT_REASON).isNotNull(), F.monotonically_increasing_id()))


def kept(checked: DataFrame, partitions: int) -> Column:
    """The aggregate, for the Observation over numbered(checked), that collects the rejected rows
    numbered below KEEP_AT_MOST / partitions, as JSON."""
    per_partition = max(1, KEEP_AT_MOST // max(1, partitions))
    keep = F.col(_NUMBER).bitwiseAND(F.lit(_COUNTER_BITS)) < F.lit(per_partition)
    return F.to_json(F.collect_list(F.when(keep, F.struct(*_fields(checked))))).alias(KEPT)


def without_number(checked: DataFrame) -> DataFrame:
    return checked.drop(_NUMBER)


def kept_rows(text: str) -> list[dict]:
    return json.loads(text) if text else []


def kept_frame(spark: SparkSession, text: str) -> DataFrame:
    """The kept rows as a DataFrame, parsed from their JSON in the JVM (no Python worker)."""
    return spark.range(1, numPartitions=1).select(F.inline(F.from_json(F.lit(text), T.ArrayType(_FIELDS))))


def top_reasons(rows: list[dict], limit: int) -> list[tuple[str, int]]:
    """The most frequent reasons, most first, ties by reason."""
    counts = Counter(r[REJECT_REASON] for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
