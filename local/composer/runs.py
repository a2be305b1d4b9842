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
# google.cloud.dataproc.v1.Batch.State by number: the twin saves the API's Batch message as JSON
# with enums as integers (proto-plus to_json's default).
BATCH_STATES = {0: "STATE_UNSPECIFIED", 1: "PENDING", 2: "RUNNING", 3: "CANCELLING", 4: "CANCELLED", 5: "SUCCEEDED", 6: "FAILED"}


class RunFailed(AirflowError):
    """A DAG run that ended failed; the message names the DAG, the task, the batch and its state_message."""


def trigger(airflow: LocalAirflow, dag_id: str, conf: dict | None = None, token: str | None = None) -> dict:
    body = {"logical_date": None, "conf": conf or {}}
    return airflow.call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", body, token=token)


def get_run(airflow: LocalAirflow, dag_id: str, run_id: str, token: str | None = None) -> dict:
    return airflow.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", token=token)


def task_instances(airflow: LocalAirflow, dag_id: str, run_id: str, token: str | None = None) -> list[dict]:
    return airflow.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", token=token)["task_instances"]


def task_log(
    airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str, try_number: int, token: str | None = None
) -> list[dict]:
    """The task attempt's log: the API's structured events (event, level, error_detail, ...)."""
    path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{int(try_number)}?full_content=true"
    content = airflow.call("GET", path, token=token).get("content", [])
    return [
        item if isinstance(item, dict) else {"event": str(item)} for item in (content if isinstance(content, list) else [content])
    ]


def log_errors(events: list[dict]) -> list[str]:
    """The error events of a task log, each with the exception it carries (type: message)."""
    out = []
    for item in events:
        if item.get("level") not in ("error", "critical"):
            continue
        text = item.get("event", "")
        for detail in item.get("error_detail") or []:
            text += f": {detail.get('exc_type')}: {detail.get('exc_value')}"
        out.append(text)
    return out


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
    """What failed in a run: each failed task, the batch it submitted with the batch's state and
    state_message as the Dataproc twin reports them, and the errors its log holds."""
    token = airflow.token()
    failed, skipped = [], []
    for ti in task_instances(airflow, dag_id, run_id, token):
        if ti.get("state") == "upstream_failed":
            skipped.append(ti["task_id"])
        elif ti.get("state") == "failed":
            ti = airflow.call(
                "GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(ti['task_id'])}", token=token
            )
            text = f"task {ti['task_id']} failed (attempt {ti['try_number']})"
            batch_id = rendered(ti, "batch_id")
            if batch_id:
                batch = batch_state(state_dir, batch_id)
                if batch is None:
                    text += f"\n    batch {batch_id}: not created in the Dataproc twin"
                else:
                    state = BATCH_STATES.get(batch.get("state"), batch.get("state"))
                    text += f"\n    batch {batch_id}: {state}: {batch.get('stateMessage') or '(no state_message)'}"
            errors = log_errors(task_log(airflow, dag_id, run_id, ti["task_id"], ti["try_number"], token))
            text += "".join(f"\n    log: {line}" for line in errors[-3:])
            failed.append(text)
    if skipped:
        failed.append(f"not run (upstream failed): {', '.join(skipped)}")
    return f"DAG {dag_id} run {run_id} failed:\n  " + ("\n  ".join(failed) or "no failed task found")


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
