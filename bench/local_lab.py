"""Benchmark of the local lab (issue 23's figures; results in docs/local-lab.md):

  python bench/local_lab.py [--runs N]

1. `npm run local` end to end after the first set-up (environments, jars and connector built):
   wall time of the whole command, and the figures it prints (start to every service healthy,
   training run, trigger to green scoring run).
2. Peak memory of the whole local lab while it runs: the sum of PSS (proportional set size, from
   /proc/<pid>/smaps_rollup) over every process that carries this benchmark's marker variable,
   sampled every second. PSS splits shared pages between the processes that share them, so the
   scheduler's forked task processes are not counted twice as RSS would count them. The marker is
   an environment variable, which every child inherits, even the history server that spark-daemon.sh
   detaches from its parent.
Prints one line per figure. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = "S8S_BENCH_MARKER"


def marked_pids(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(int(entry.name))
        except OSError:
            continue
    return out


def pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


class PeakPss(threading.Thread):
    def __init__(self, marker: str) -> None:
        super().__init__(daemon=True)
        self.marker, self.peak_kib, self.peak_procs, self.done = marker, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = marked_pids(self.marker)
            total = sum(pss_kib(p) for p in pids)
            if total > self.peak_kib:
                self.peak_kib, self.peak_procs = total, len(pids)
            self.done.wait(1.0)


def run_once(state_dir: Path) -> dict:
    marker = uuid.uuid4().hex
    sampler = PeakPss(marker)
    sampler.start()
    env = {**os.environ, MARKER: marker}
    start = time.monotonic()
    out = subprocess.run(
        ["npm", "run", "--silent", "local", "--", "--state-dir", str(state_dir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall = time.monotonic() - start
    sampler.done.set()
    sampler.join()
    if out.returncode != 0:
        sys.stdout.write(out.stdout[-4000:])
        raise SystemExit(f"npm run local failed with exit code {out.returncode}")
    figures = {
        "end_to_end_s": round(wall, 1),
        "peak_pss_mib": round(sampler.peak_kib / 1024),
        "processes_at_peak": sampler.peak_procs,
    }
    m = re.search(r"^timings: (.*)$", out.stdout, re.M)
    if m:
        for part in m.group(1).split(", "):
            name, value, _ = part.split(" ")
            figures[f"{name}_s"] = float(value)
    left = marked_pids(marker)
    figures["processes_left_after"] = len(left)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--state-dir", type=Path, help="default: a new temporary folder (a first start of the twin's state)")
    a = p.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="s8s-bench-local-") as tmp:
        state = a.state_dir or Path(tmp) / "twin"
        for i in range(a.runs):
            figures = run_once(state)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
