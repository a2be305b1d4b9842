"""DAG runs through the local Airflow's REST API (v2), as a person's script would drive Composer.

- A run is triggered with POST /api/v2/dags/{dag_id}/dagRuns, its `conf` and `logical_date: null`
  (Airflow 3 requires the field and accepts null: a run triggered without a logical date, which is
  what `gcloud composer environments run ... dags trigger` makes; BRIEF 2026-12).
- It is polled until it is finished; a failed run is explained: each failed task, the Dataproc batch
  it submitted (its id from the task's rendered `batch_id`) with the batch's state and
  `state_message` as the Dataproc twin reports them, and the end of the task's log.
Standard library only.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

from local.composer.airflow import AirflowError, LocalAirflow

FINISHED = ("success", "failed")


class RunFailed(AirflowError):
    """A DAG run that ended failed; the message names the DAG, the task, the batch and its state_message."""


def trigger(airflow: LocalAirflow, dag_id: str, conf: dict | None = None, token: str | None = None) -> dict:
    body = {"logical_date": None, "conf": conf or {}}
    return airflow.call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", body, token=token)


def get_run(airflow: LocalAirflow, dag_id: str, run_id: str, token: str | None = None) -> dict:
    return airflow.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", token=token)


def task_instances(airflow: LocalAirflow, dag_id: str, run_id: str, token: str | None = None) -> list[dict]:
    return airflow.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", token=token)["task_instances"]


def task_log(airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str, try_number: int, token: str | None = None) -> str:
    """The task attempt's log as text (the API's structured log, one line per event)."""
    path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{int(try_number)}?full_content=true"
    content = airflow.call("GET", path, token=token).get("content", [])
    lines = []
    for item in content if isinstance(content, list) else [content]:
        if isinstance(item, dict):
            text = item.get("event", "")
            extra = {k: v for k, v in item.items() if k not in ("event", "timestamp", "level", "logger", "chan", "sources")}
            lines.append(f"[{item.get('level', '')}] {text}" + (f" {json.dumps(extra, default=str)}" if extra else ""))
        else:
            lines.append(str(item))
    return "\n".join(lines)


def wait(airflow: LocalAirflow, dag_id: str, run_id: str, timeout: float = 900, log=print) -> dict:
    """Polls the run until it has finished; prints each task's state change. Returns the run."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    token, token_at = airflow.token(), time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - token_at > 600:  # tokens expire (24 h by default); refresh well before
            token, token_at = airflow.token(), time.monotonic()
        run = get_run(airflow, dag_id, run_id, token)
        for ti in task_instances(airflow, dag_id, run_id, token):
            state = ti.get("state") or "none"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                log(f"  {dag_id} / {ti['task_id']}: {state}")
        if run["state"] in FINISHED:
            return run
        time.sleep(2)
    raise AirflowError(f"DAG {dag_id} run {run_id} did not finish within {timeout:.0f} s (last state: {run['state']})")


def rendered(ti: dict, field: str):
    return (ti.get("rendered_fields") or {}).get(field)


def batch_state(state_dir: Path, batch_id: str) -> dict | None:
    """The batch as the Dataproc twin reports it (STATE_DIR/dataproc/batches/<id>/batch.json, the
    API's Batch message as JSON), or None when the twin has no such batch."""
    path = Path(state_dir) / "dataproc" / "batches" / batch_id / "batch.json"
    return json.loads(path.read_text()) if path.exists() else None


def explain_failure(airflow: LocalAirflow, state_dir: Path, dag_id: str, run_id: str) -> str:
    """What failed in a run: each failed task, its batch with the batch's state and state_message,
    and the last lines of the task's log."""
    token = airflow.token()
    parts = []
    for ti in task_instances(airflow, dag_id, run_id, token):
        if ti.get("state") not in ("failed", "upstream_failed"):
            continue
        if ti["state"] == "upstream_failed":
            parts.append(f"task {ti['task_id']}: upstream_failed")
            continue
        text = f"task {ti['task_id']} failed (attempt {ti['try_number']})"
        batch_id = rendered(ti, "batch_id")
        if batch_id:
            batch = batch_state(state_dir, batch_id)
            if batch is None:
                text += f"; batch {batch_id}: not created in the Dataproc twin"
            else:
                text += f"; batch {batch_id}: {batch.get('state')}: {batch.get('stateMessage') or batch.get('state_message') or '(no state_message)'}"
        log_tail = task_log(airflow, dag_id, run_id, ti["task_id"], ti["try_number"], token).splitlines()
        errors = [line for line in log_tail if line.startswith(("[error]", "[critical]"))]
        text += "\n    " + "\n    ".join((errors or log_tail)[-6:])
        parts.append(text)
    return f"DAG {dag_id} run {run_id} failed: " + ("\n  ".join(parts) or "no failed task found")


def run_and_wait(airflow: LocalAirflow, state_dir: Path, dag_id: str, conf: dict | None = None, log=print) -> dict:
    """Triggers a run, waits for it, and raises RunFailed explaining a failed one."""
    run = trigger(airflow, dag_id, conf)
    log(f"triggered {dag_id}: run {run['dag_run_id']} conf {json.dumps(conf or {})}")
    run = wait(airflow, dag_id, run["dag_run_id"], log=log)
    if run["state"] != "success":
        raise RunFailed(explain_failure(airflow, state_dir, dag_id, run["dag_run_id"]))
    return run


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")
