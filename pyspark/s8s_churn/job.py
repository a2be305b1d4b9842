"""What every lab job shares: its error type, the Spark session, argument types, file access
through Spark's Hadoop file systems, and the entry-point wrapper that turns a JobError into exit 2.

The jobs' modules live in the s8s_churn package: Dataproc puts python_file_uris on the path ahead
of the image's own packages, and a package keeps a generic name (model, features) from shadowing one.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import SparkSession

log = logging.getLogger("s8s")

PIPELINE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
# Dataproc batch ids: 4-63 characters of a-z, 0-9 and '-' (the DAG's batch_id_for makes them).
BATCH_ID = re.compile(r"^[a-z0-9-]{4,63}$")
LOCAL_BATCH_ID = "local"


class JobError(Exception):
    """A problem the user can fix: bad arguments, input or model. The job exits non-zero."""


HOTSPOT_HUGE_METHOD_LIMIT = 8000


def get_spark(app_name: str) -> SparkSession:
    """The active session (Dataproc makes one) or a local one; UTC for every timestamp."""
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")  # progress bars garble batch logs
    )
    spark = builder.getOrCreate()
    # HotSpot does not JIT-compile a method over 8000 bytes of bytecode (its HugeMethodLimit), so a
    # whole-stage generated method that large runs interpreted: scoring with reason codes was 3x
    # slower for it (docs/benchmark.md, "Reasons and drift"). At this limit Spark runs such a stage
    # without whole-stage codegen instead, what Spark's own description of the setting recommends
    # on HotSpot (spark.sql.codegen.hugeMethodLimit in SQLConf.scala, Spark 3.5). Set on the
    # session, so it holds on the session Dataproc creates too.
    spark.conf.set("spark.sql.codegen.hugeMethodLimit", str(HOTSPOT_HUGE_METHOD_LIMIT))
    return spark


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (an argparse type). Naive times are taken as UTC."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 timestamp such as 2026-01-31T12:00:00+00:00") from e
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def pipeline_id_arg(value: str) -> str:
    if not PIPELINE_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a pipeline id; expected 1-100 characters of a-z, 0-9, '_', '-'")
    return value


def batch_id_arg(value: str) -> str:
    if not BATCH_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Dataproc batch id; expected 4-63 characters of a-z, 0-9, '-'")
    return value


def hadoop_path(spark: SparkSession, uri: str):
    """(FileSystem, Path) for a gs://, file:// or plain local path, through Spark's own Hadoop."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def path_exists(spark: SparkSession, uri: str) -> bool:
    fs, path = hadoop_path(spark, uri)
    return bool(fs.exists(path))


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    fs, path = hadoop_path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def first_line(spark: SparkSession, uri: str) -> str | None:
    """The first line of a file, or of the first non-empty data file (by name) of a folder, read by
    the driver through Hadoop and decompressed as Spark's text reader would (.gz, .bz2, ...); None
    when there is no line. No Spark job: one to read a line cost about a second per run (issue 11)."""
    jvm = spark.sparkContext._jvm
    fs, path = hadoop_path(spark, uri)
    files = [path]
    if fs.getFileStatus(path).isDirectory():
        # Spark skips names starting with "_" or "." (_SUCCESS, .crc) when it reads a folder.
        listed = [s.getPath() for s in fs.listStatus(path) if s.isFile()]
        files = sorted((p for p in listed if not p.getName().startswith(("_", "."))), key=lambda p: p.getName())
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(spark.sparkContext._jsc.hadoopConfiguration())
    for file in files:
        stream = fs.open(file)
        codec = codecs.getCodec(file)
        if codec is not None:
            stream = codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        try:
            line = reader.readLine()
        finally:
            reader.close()
        if line is not None:
            return line
    return None


def read_text(spark: SparkSession, uri: str) -> str:
    """A small file's text, read by the driver (no Spark job per file)."""
    fs, path = hadoop_path(spark, uri)
    stream = fs.open(path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Runs a job's main; a JobError prints its message and exits 2, anything else raises."""
    setup_logging()
    try:
        return main(argv)
    except JobError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
