"""Module 8's walkthrough on this machine: the twin, the Dataproc twin, the history server and a real
Airflow, started together and stopped together; the DAG runs driven through Airflow's REST API.

    lab = start(STATE_DIR)       # twin up, stack deployed, Dataproc twin, history server, Airflow
    walkthrough(lab, version)    # training run, scoring run with its version; returns the scoring run
    stop(STATE_DIR)              # every process start() began, by the ids it recorded

Everything keeps its state under STATE_DIR (default local-run/twin): the emulators' data, the
batches, the event logs, AIRFLOW_HOME. A later start of the same folder finds earlier runs, models
and the admin's password. Standard library only; the cloud twin's and Airflow's own environments
are created on first use by scripts/python-env.sh.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from local.composer import airflow as local_airflow
from local.composer import environment, runs
from local.history import server as history
from local.twin.emulators import CONTRACT

REPO = Path(__file__).resolve().parents[1]
TRAINING_DAG = CONTRACT["dag_ids"]["training"]
SCORING_DAG = CONTRACT["dag_ids"]["scoring"]
TRAIN_TASK = "Train-Churn-Model"
SCORE_TASK = "Predict-Customer-Churn"


class LabError(Exception):
    """A part of the local lab that failed; the message names the part."""


@dataclass
class Lab:
    state_dir: Path
    airflow: local_airflow.LocalAirflow
    history: history.HistoryServer
    timings: dict = field(default_factory=dict)


def _twin():
    from local.twin import emulators

    return emulators


def start(state_dir: Path, airflow_port: int | None = None, history_port: int | None = None, log=print) -> Lab:
    """Starts every part (each reused when it already runs for the folder) and deploys the stack
    into the twin first, so the DAG folder holds the uploaded DAGs when Airflow parses it."""
    from local import dataproc
    from local.twin import deploy

    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    twin = _twin()
    timings = {}
    t0 = time.monotonic()
    try:
        if (state_dir / "twin.json").exists():
            twin.TwinState.load(state_dir)  # a twin this folder runs: reused, the stack deployed again
            done = deploy.deploy(state_dir)  # (an unchanged object is not uploaded again)
            log(f"deployed the stack into the running twin: {len(done['objects'])} objects")
        else:
            twin.up(state_dir)  # starts the emulators and deploys the stack into them
            log(f"cloud twin up and the stack deployed into it ({state_dir})")
        timings["twin"] = time.monotonic() - t0
        if not _dataproc_running(state_dir):
            dataproc.start(state_dir)
        log(f"Dataproc twin: {dataproc.address(state_dir)}")
        spark_env = twin.python_env("spark")
        hs = history.up(state_dir, spark_env, history_port)
        log(f"Spark History Server: {hs.url}")
        t1 = time.monotonic()
        af = local_airflow.up(
            state_dir,
            environment.dags_folder(state_dir),
            environment.software_config(state_dir),
            dataproc.airflow_env(state_dir),
            airflow_port,
            environment.env_name(state_dir),
            log=log,
        )
        timings["airflow_healthy"] = time.monotonic() - t1
        wait_for_dags(af, (TRAINING_DAG, SCORING_DAG))
        timings["all_healthy"] = time.monotonic() - t0
    except BaseException:
        stop(state_dir)
        raise
    return Lab(state_dir, af, hs, timings)


def _dataproc_running(state_dir: Path) -> bool:
    from local import dataproc

    running = dataproc.Running.load(state_dir)
    return running is not None and local_airflow._alive(running.pid)


def wait_for_dags(af: local_airflow.LocalAirflow, dag_ids, timeout: float = 180) -> None:
    """Waits until the dag-processor has parsed the lab's DAGs; an import error is named with its file."""
    deadline = time.monotonic() + timeout
    token = af.token()
    while time.monotonic() < deadline:
        errors = af.call("GET", "/api/v2/importErrors", token=token)["import_errors"]
        if errors:
            raise LabError(
                "DAG import error: " + "; ".join(f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors)
            )
        found = {d["dag_id"] for d in af.call("GET", "/api/v2/dags?limit=100", token=token)["dags"]}
        if set(dag_ids) <= found:
            return
        time.sleep(2)
    raise LabError(f"Airflow did not load {', '.join(dag_ids)} from {af.dags_folder} within {timeout:.0f} s")


def stop(state_dir: Path) -> None:
    """Stops every part this folder runs, Airflow first (no task left to submit a batch). One stop
    at a time per folder (a lock file): `down` and the --ui session it ends both call it."""
    import fcntl

    from local import dataproc

    state_dir = Path(state_dir).resolve()
    if not state_dir.exists():
        return
    with open(state_dir / ".stop.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        local_airflow.down(state_dir)
        history.down(state_dir)
        dataproc.stop(state_dir)
        _twin().down(state_dir)


def trained_version(lab: Lab, run_id: str) -> str:
    """The version a training run registered: the --model-version its batch was given (the task's
    rendered batch, as Airflow stored it)."""
    ti = lab.airflow.call("GET", f"/api/v2/dags/{TRAINING_DAG}/dagRuns/{runs._q(run_id)}/taskInstances/{TRAIN_TASK}")
    args = runs.rendered(ti, "batch")["pyspark_batch"]["args"]
    return next(a.split("=", 1)[1] for a in args if a.startswith("--model-version="))


def xcom(lab: Lab, dag_id: str, run_id: str, task_id: str):
    path = f"/api/v2/dags/{dag_id}/dagRuns/{runs._q(run_id)}/taskInstances/{task_id}/xcomEntries/return_value"
    return lab.airflow.call("GET", path)["value"]


def walkthrough(lab: Lab, model_version: str | None = None, log=print) -> dict:
    """Seed 7.1-7.4 through the REST API: a training run (unless a version is named), then a scoring
    run with that version. Returns what the scoring run produced: run id, version, pipeline_id, the
    check's reconciliation (its XCom) and the timings."""
    if model_version is None:
        t = time.monotonic()
        run = runs.run_and_wait(lab.airflow, lab.state_dir, TRAINING_DAG, {}, log=log)
        lab.timings["training_run"] = time.monotonic() - t
        model_version = trained_version(lab, run["dag_run_id"])
        log(f"training registered model version {model_version}")
    t = time.monotonic()
    run = runs.run_and_wait(lab.airflow, lab.state_dir, SCORING_DAG, {"model_version": model_version}, log=log)
    lab.timings["scoring_run"] = time.monotonic() - t
    run_id = run["dag_run_id"]
    return {
        "run_id": run_id,
        "model_version": model_version,
        "pipeline_id": xcom(lab, SCORING_DAG, run_id, "announce_pipeline"),
        "reconciliation": xcom(lab, SCORING_DAG, run_id, "check_predictions_written"),
    }


def commands(lab: Lab, default_state: Path | None = None) -> list[tuple[str, str]]:
    """What a person uses next to the UI, each as a line to copy."""
    state = shlex.quote(str(lab.state_dir))
    where = "" if default_state and Path(default_state).resolve() == lab.state_dir else f" --state-dir {state}"
    twin_env = _twin().python_env("twin")
    env = environment.software_config(lab.state_dir)["env_variables"]
    sql = f"SELECT * FROM `{env['AIRFLOW_VAR_BQ_DATASET']}.batch_runs` ORDER BY ended_at DESC"
    return [
        ("Airflow", f"{lab.airflow.url}  (user {lab.airflow.username}, password {lab.airflow.password()})"),
        ("Spark History Server", lab.history.url),
        (
            "Dataproc batches",
            f"cd {shlex.quote(str(REPO))} && {twin_env}/bin/python -m local.dataproc batches {state} [BATCH_ID]",
        ),
        ("BigQuery query", f'npm run local -- query "{sql}"{where}'),
        ("stop everything", f"npm run local -- down{where}   (state kept in {lab.state_dir})"),
    ]


def print_commands(lab: Lab, default_state: Path | None = None, out=sys.stdout) -> None:
    for name, text in commands(lab, default_state):
        print(f"{name + ':':22s}{text}", file=out)
