"""The Compute Engine quota a batch draws on, counted by preflight's own code (preflight/needs.ts,
run through local/dataproc/footprint.ts), so the twin and `npm run preflight` agree on it.

Serverless batches on the standard tiers draw on the region's CPUS and DISKS_TOTAL_GB
(https://cloud.google.com/dataproc-serverless/quotas). needs.ts counts a batch whose size is fixed
(spark.dynamicAllocation.enabled=false, as every lab batch is). A batch that leaves sizes unset
gets the service's defaults first (the quotas page's "Default batch resources": a 4-core driver
and two 4-core executors, 12 vCPUs), and an autoscaling batch is counted at its initial size, which
is what it takes when it starts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("footprint.ts")
DEFAULTS = {
    "spark.driver.cores": "4",
    "spark.executor.cores": "4",
    "spark.executor.instances": "2",
    "spark.dataproc.driver.disk.size": "400g",
    "spark.dataproc.executor.disk.size": "400g",
}


class QuotaError(Exception):
    pass


def _run(payload: dict) -> dict:
    ts_node = REPO / "node_modules" / ".bin" / "ts-node"
    if not ts_node.exists():
        raise QuotaError(f"{ts_node} is missing: run `npm ci` (the twin counts quota with preflight/needs.ts)")
    done = subprocess.run(
        [str(ts_node), "--transpile-only", str(SCRIPT)],
        input=json.dumps(payload), cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise QuotaError(f"{SCRIPT.name} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout)


def sized(properties: dict[str, str]) -> dict[str, str]:
    """The properties with the service's defaults for unset sizes, an autoscaling batch fixed at
    its initial size (spark.dynamicAllocation.initialExecutors, else the executor count)."""
    size = {**DEFAULTS, **properties}
    if size.get("spark.dynamicAllocation.enabled", "true") != "false":
        initial = size.get("spark.dynamicAllocation.initialExecutors") or size["spark.executor.instances"]
        size |= {"spark.dynamicAllocation.enabled": "false", "spark.executor.instances": initial}
    return size


def batch_footprint(properties: dict[str, str]) -> dict:
    """{"vcpus": n, "diskGb": n} of one batch; QuotaError naming the property that is not valid."""
    (out,) = _run({"batches": [sized(properties)]})["batches"]
    if "error" in out:
        raise QuotaError(out["error"])
    return out


def machine_vcpus(machine_type: str) -> dict:
    """{"vcpus": n, "metric": "CPUS" | "<FAMILY>_CPUS"} of a machine type."""
    (out,) = _run({"machineTypes": [machine_type]})["machineTypes"]
    if "error" in out:
        raise QuotaError(out["error"])
    return out
