"""Benchmark: the scoring job against the I/O floor, at 1M and 10M rows, each run its own process.

    npm run bench                                  # 1,000,000 and 10,000,000 rows, 2 rounds
    npm run bench -- --rows 1000000 --repeats 5

What is timed: wall time of one `spark-submit --master local[*]` process, from its start to its exit
(JVM start, Spark start, model lookup and load, read, validate, score, write, reconcile, exit).
The contenders are
  floor   bench/floor.py: read the CSV with an explicit schema, write Parquet, nothing else;
  before  the job as it was at --before-ref (default: the commit before reason codes and drift,
          issue 24), its pyspark/ folder taken from git with `git archive`, scoring with the same model;
  job     pyspark/batch_scoring.py --sink local: the real job with every guarantee, reasons and drift.
Rounds interleave the contenders (floor, job, floor, job, ...) so a slow minute of a shared
machine hits both; each figure is the median over the rounds. Peak memory is the highest resident
set (VmHWM) of the run's JVM and of its Python driver, sampled from /proc while it runs.
Not timed: generating the input (a base of generated customers repeated with distinct ids)
and training the model. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "pyspark"

from local import sample_data  # noqa: E402

# The job before issue 24 (reason codes, drift, promotion gate): what "job" is compared with.
BEFORE_REF = "707e244"
BASE_ROWS = 200_000
BASE_SEED = 1234


# --------------------------------------------------------------------------------------------
# Input: generated once, then repeated with distinct customer ids (generating 10M rows one by
# one in Python takes minutes; copying lines takes seconds)
# --------------------------------------------------------------------------------------------


def write_base(path: Path, rows: int) -> int:
    """Generated customers, with the sample's broken rows spread among them (so rejects happen)."""
    return sample_data.write_csv(path, sample_data.customers(rows, BASE_SEED, False, "B", bad_rows=True), False)


def write_input(base: Path, target: Path, rows: int) -> int:
    """`rows` lines made of the base's lines; copy k prefixes each customer id with 'R<k>-'.
    A blank id stays blank: that row is one of the rejects on purpose."""
    with base.open(encoding="utf-8") as f:
        header = f.readline()
        body = f.read().splitlines()
    written = 0
    with target.open("w", encoding="utf-8") as out:
        out.write(header)
        copy = 0
        while written < rows:
            take = body[: rows - written]
            tag = f"R{copy}-"
            out.write("\n".join(tag + line if not line.startswith(",") else line for line in take) + "\n")
            written += len(take)
            copy += 1
    return written


# --------------------------------------------------------------------------------------------
# One run: a spark-submit process, its wall time and the peak memory of its processes
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    contender: str
    rows: int
    wall_s: float
    jvm_mib: float
    python_mib: float
    summary: dict


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _peak_kib(pid: int) -> tuple[str, int] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmHWM" not in fields:
        return None
    return fields["Name"].strip(), int(fields["VmHWM"].split()[0])


class PeakMemory(threading.Thread):
    """Samples VmHWM (the kernel's own high-water mark) of a process tree until stopped."""

    def __init__(self, root: int, every_s: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.every_s = root, every_s
        self.peak_kib = {"java": 0, "python": 0}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            kids, todo = _children(), [self.root]
            while todo:
                pid = todo.pop()
                todo += kids.get(pid, [])
                found = _peak_kib(pid)
                if found:
                    kind = "java" if found[0] == "java" else "python" if found[0].startswith("python") else None
                    if kind:
                        self.peak_kib[kind] = max(self.peak_kib[kind], found[1])
            self.done.wait(self.every_s)


def spark_submit(script: Path, args: list[str], driver_memory: str, log: Path) -> tuple[float, dict[str, int], str]:
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[*]",
        "--driver-memory",
        driver_memory,
        "--conf",
        "spark.ui.showConsoleProgress=false",
        str(script),
        *args,
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    with log.open("w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=out, env=env, text=True, cwd=REPO)
        sampler = PeakMemory(proc.pid)
        sampler.start()
        stdout, _ = proc.communicate()
        wall = time.monotonic() - started
        out.write(stdout)
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{script.name} {' '.join(args)} exited {proc.returncode}; its log: {log}\n{stdout[-2000:]}")
    return wall, sampler.peak_kib, stdout


def run_floor(work: Path, data: Path, rows: int, driver_memory: str) -> Run:
    out = work / "floor-out"
    wall, peak, _ = spark_submit(REPO / "bench" / "floor.py", [str(data), str(out)], driver_memory, work / "floor.log")
    shutil.rmtree(out, ignore_errors=True)
    return Run("floor", rows, wall, peak["java"] / 1024, peak["python"] / 1024, {})


def run_job(work: Path, data: Path, rows: int, driver_memory: str, jobs: Path = JOBS, name: str = "job") -> Run:
    out = work / f"{name}-out"
    log = work / f"{name}.log"
    args = ["--pipeline-id", "bench", "--input", str(data), "--models-root", str(work / "models"), "--sink", "local"]
    wall, peak, stdout = spark_submit(jobs / "batch_scoring.py", [*args, "--output", str(out)], driver_memory, log)
    shutil.rmtree(out, ignore_errors=True)
    summaries = [json.loads(line[len("SUMMARY ") :]) for line in stdout.splitlines() if line.startswith("SUMMARY ")]
    if not summaries:
        raise SystemExit(f"the job printed no SUMMARY line; its log: {log}")
    s = summaries[-1]
    if s["read"] != rows or s["read"] != s["scored"] + s["rejected"]:
        raise SystemExit(f"the job's counts are wrong for {rows} input rows: {s}")
    return Run(name, rows, wall, peak["java"] / 1024, peak["python"] / 1024, s)


def extract_before(work: Path, ref: str) -> Path:
    """The pyspark/ folder of `ref`, from git (the job as it was), under work/before/."""
    target = work / "before"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "pyspark"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "pyspark"


def run_before(work: Path, data: Path, rows: int, driver_memory: str) -> Run:
    return run_job(work, data, rows, driver_memory, jobs=work / "before" / "pyspark", name="before")


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def table(runs: list[Run], sizes: list[int]) -> list[str]:
    lines = [
        "| rows | contender | wall s (median) | rows/s | ratio to floor | wall / before | JVM peak MiB | Python peak MiB "
        "| rounds (wall s) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for rows in sizes:
        medians = {}
        for who in ("floor", "before", "job"):
            mine = [r for r in runs if r.rows == rows and r.contender == who]
            if mine:
                medians[who] = (statistics.median(r.wall_s for r in mine), mine)
        for who, (wall, mine) in medians.items():
            ratio = medians["floor"][0] / wall if "floor" in medians else float("nan")
            slower = wall / medians["before"][0] if "before" in medians else float("nan")
            lines.append(
                f"| {rows:,} | {who} | {wall:.1f} | {rows / wall:,.0f} | {ratio:.2f} | {slower:.3f} | "
                f"{max(r.jvm_mib for r in mine):,.0f} | {max(r.python_mib for r in mine):,.0f} | "
                f"{', '.join(f'{r.wall_s:.1f}' for r in mine)} |"
            )
    return lines


def machine() -> str:
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    import pyspark

    return (
        f"{os.cpu_count()} vCPUs {platform.machine()}, {mem_kib / 1024 / 1024:.0f} GiB, Python {platform.python_version()}, "
        f"{java}, Spark {pyspark.__version__}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,10000000", help="comma-separated input sizes (default: 1M and 10M)")
    p.add_argument("--repeats", type=int, default=3, help="rounds of every contender at every size (default 3)")
    p.add_argument("--before-ref", default=BEFORE_REF, help=f"git commit of the 'before' job (default {BEFORE_REF})")
    p.add_argument("--driver-memory", default="4g", help="spark-submit --driver-memory for every run (default 4g)")
    p.add_argument("--work", type=Path, help="folder for inputs, model and outputs (default: a temporary folder)")
    a = p.parse_args()
    try:
        sizes = [int(n) for n in a.rows.split(",")]
    except ValueError:
        p.error(f"--rows: {a.rows!r} is not a comma-separated list of row counts")
    if any(n < 1 for n in sizes) or a.repeats < 1:
        p.error(f"--rows {a.rows} / --repeats {a.repeats}: expected positive numbers")

    work = a.work or Path(tempfile.mkdtemp(prefix="s8s-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.monotonic()
        base = work / "base.csv"
        write_base(base, min(BASE_ROWS, max(sizes)))
        inputs = {n: work / f"in-{n}.csv" for n in sizes}
        for n, path in inputs.items():
            write_input(base, path, n)
        print(f"inputs: {', '.join(f'{n:,}' for n in sizes)} rows in {time.monotonic() - t0:.1f} s (not timed)", file=sys.stderr)
        t0 = time.monotonic()
        train = ["--input", str(JOBS / "data" / sample_data.TRAINING_FILE), "--models-root", str(work / "models")]
        spark_submit(JOBS / "model_training.py", [*train, "--model-version", "bench"], a.driver_memory, work / "train.log")
        print(f"model: trained in {time.monotonic() - t0:.1f} s (not timed)", file=sys.stderr)
        extract_before(work, a.before_ref)

        load_before = os.getloadavg()
        runs: list[Run] = []
        for round_no in range(1, a.repeats + 1):
            for n in sizes:
                for contender in (run_floor, run_before, run_job):
                    r = contender(work, inputs[n], n, a.driver_memory)
                    runs.append(r)
                    print(
                        f"round {round_no} {r.contender:6} {n:>11,} rows {r.wall_s:6.1f} s {n / r.wall_s:>9,.0f} rows/s "
                        f"JVM {r.jvm_mib:,.0f} MiB Python {r.python_mib:,.0f} MiB",
                        file=sys.stderr,
                    )
        load_after = os.getloadavg()
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {machine()}")
    print(f"date: {when}; spark-submit --master local[*] --driver-memory {a.driver_memory}; median of {a.repeats} rounds")
    loads = ["/".join(f"{x:.1f}" for x in load) for load in (load_before, load_after)]
    print(f"load average (1/5/15 min) before: {loads[0]}, after: {loads[1]}")
    job = next((r.summary for r in runs if r.contender == "job"), {})
    print(f"job counts (first run): read={job.get('read')} scored={job.get('scored')} rejected={job.get('rejected')}")
    print("\n".join(table(runs, sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
