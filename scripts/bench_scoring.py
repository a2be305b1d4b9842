"""Benchmark: score N generated customers on local Spark; prints rows/s, wall time, peak memory.

    npm run bench -- --rows 1000000

Times only the scoring job (read, validate, score, write, reconcile), after generating the
input and training a model on the lab's training sample. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "pyspark"))

import batch_scoring  # noqa: E402
import model_training  # noqa: E402
import sample_data  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--driver-memory", default="4g")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="s8s-bench-") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        n = sample_data.write_csv(work / "in.csv", sample_data.customers(a.rows, 1234, False, "B"), False)
        gen_s = time.monotonic() - t0
        spark = (
            SparkSession.builder.master("local[*]")
            .appName("s8s-bench")
            .config("spark.driver.memory", a.driver_memory)
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        sample_data.write_lab_samples(work / "data")
        model_training.train(
            spark,
            model_training.parse_args(
                [
                    "--input",
                    str(work / "data" / sample_data.TRAINING_FILE),
                    "--models-root",
                    str(work / "models"),
                    "--model-version",
                    "bench",
                ]
            ),
        )
        cfg = batch_scoring.parse_args(
            [
                "--pipeline-id",
                "bench",
                "--input",
                str(work / "in.csv"),
                "--models-root",
                str(work / "models"),
                "--sink",
                "local",
                "--output",
                str(work / "out"),
            ]
        )
        t1 = time.monotonic()
        summary = batch_scoring.run(spark, cfg)
        wall = time.monotonic() - t1
        jvm_pid = spark.sparkContext._gateway.proc.pid
        jvm_peak = peak_rss_mib(jvm_pid)
        py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        spark.stop()
    assert summary["read"] == n == summary["scored"] + summary["rejected"]
    print(
        f"machine:        {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Spark {spark.version}, local[*], driver memory {a.driver_memory}"
    )
    print(f"input:          {n} rows ({gen_s:.1f} s to generate)")
    print(f"scored:         {summary['scored']} rows, rejected {summary['rejected']}")
    print(f"wall time:      {wall:.1f} s (read, validate, score, write Parquet, reconcile)")
    print(f"throughput:     {n / wall:,.0f} rows/s")
    print(f"peak memory:    JVM {jvm_peak:,.0f} MiB, Python driver {py_peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
