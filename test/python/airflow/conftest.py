"""A real Airflow for the DAG tests, the one of the environment pytest runs in: Airflow 3.3.1 or
2.11.1, each with the packages of its Composer image (airflow/composer_images.json). A throwaway
AIRFLOW_HOME with a SQLite database, and the Airflow variables set the way the stack sets them,
as AIRFLOW_VAR_* variables.

Tasks run through Airflow's own runner, `dag.test()`: on Airflow 3 each task goes through the Task
SDK's task runner and the in-process Execution API (the path a Composer worker takes, where task
code has no metadata database), on Airflow 2 through TaskInstance._run_raw_task."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "airflow" / "dags"
_LISTED = json.loads((REPO / "airflow" / "variables.json").read_text())
VARIABLES = _LISTED["variables"]
OPTIONAL_VARIABLES = set(_LISTED["optional"])
IMAGES = json.loads((REPO / "airflow" / "composer_images.json").read_text())

# What a deployed lab holds (names from airflow/variables.json; values shaped as lib/stack.ts sets them).
# The optional variables are absent, as the stack leaves them when they have no value.
SAMPLE_VARIABLES = {
    "project_id": "demo-proj",
    "region": "us-central1",
    "subnet": "projects/demo-proj/regions/us-central1/subnetworks/s8s-subnet",
    "phs_server": "s8s-phs",
    "bq_dataset": "customer_churn_ds",
    "umsa_fqn": "s8s-spark-sa@demo-proj.iam.gserviceaccount.com",
    "model_version": "latest",
    "code_bucket": "s8s-demo-proj-code",
    "data_bucket": "s8s-demo-proj-data",
    "model_bucket": "s8s-demo-proj-models",
    "spark_bucket": "s8s-demo-proj-spark",
    "spark_runtime_version": "2.3",
    **_LISTED["defaults"],  # the drift thresholds and the promotion gate the stack sets
}

HOME = Path(tempfile.mkdtemp(prefix="s8s-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
for name, value in SAMPLE_VARIABLES.items():
    os.environ[f"AIRFLOW_VAR_{name.upper()}"] = value


def _installed_line() -> dict:
    from importlib.metadata import version

    installed = version("apache-airflow")
    lines = [line for line in IMAGES["lines"] if line["airflow"] == installed]
    assert lines, f"apache-airflow {installed} is no line of airflow/composer_images.json"
    return lines[0]


LINE = _installed_line()
AIRFLOW_3 = LINE["airflow"].startswith("3.")

# How a run comes to be, per line. "cli" is what the stack's train_command and score_command run
# (`airflow dags trigger` without --logical-date: on Airflow 3 the run has no logical date);
# "ui" is the UI's trigger form as it opens (Airflow 3's form, as read on 3.2.2, pre-fills the logical date with
# the current time for a DAG that is not partitioned); "airflow2" is any
# Airflow 2 trigger, which always has one.
TRIGGERS = ("cli", "ui") if AIRFLOW_3 else ("airflow2",)


def pytest_sessionstart(session):
    # A real metadata database for the runs; `airflow db migrate` is what Composer runs.
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    sys.path.insert(0, str(DAGS))


# Where DagBag lives, and how it is told to leave Airflow's example DAGs out: Airflow 3.3 removed
# DagBag(include_examples=...) (AIRFLOW__CORE__LOAD_EXAMPLES=False above keeps them out there),
# Airflow 2.11 still takes it. The in-process and the fresh-process loads use both.
DAGBAG_MODULE = "airflow.dag_processing.dagbag" if AIRFLOW_3 else "airflow.models.dagbag"
DAGBAG_KWARGS = {"dag_folder": str(DAGS)} if AIRFLOW_3 else {"dag_folder": str(DAGS), "include_examples": False}


def load_dagbag():
    import importlib

    return importlib.import_module(DAGBAG_MODULE).DagBag(**DAGBAG_KWARGS)


# Logical dates of the runs that have one: distinct per run, as Airflow requires.
_seconds = itertools.count()


def next_logical_date() -> datetime:
    return datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc) + timedelta(seconds=next(_seconds))


def run_dag(dagbag, dag_id: str, trigger: str, conf: dict | None = None, retry_delay: timedelta = timedelta(0)):
    """Runs the whole DAG once through dag.test(), triggered as `trigger` says (see TRIGGERS),
    and returns the finished DagRun. A copy of the DAG, with the retry delay shortened (the real
    one is minutes), so retries run here as Airflow runs them: a new attempt, try_number + 1."""
    dag = copy.deepcopy(dagbag.get_dag(dag_id))
    for task in dag.tasks:
        task.retry_delay = retry_delay
        # A run resolves its conf into the task's Param objects, which a copy of the DAG shares.
        task.params = copy.deepcopy(task.params)
    if trigger == "airflow2":
        return dag.test(execution_date=next_logical_date(), run_conf=conf)
    if trigger not in ("cli", "ui"):
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {TRIGGERS}")
    from unittest import mock

    import airflow.sdk.definitions.dag as sdk_dag

    with mock.patch.object(sdk_dag, "_run_task", _run_task_supervised):
        return dag.test(logical_date=None if trigger == "cli" else next_logical_date(), run_conf=conf)


def _run_task_supervised(*, ti, task, run_triggerer: bool = False) -> None:
    """dag.test()'s task step, as a Composer worker runs a task: the Task SDK's supervisor forks a
    task process that parses the DAG file from the dags-folder bundle, has its metadata-database
    access blocked (supervisor.block_orm_access) and talks to the Execution API, here Airflow's
    in-process one. dag.test() alone would run the task inside this process, ORM reachable."""
    from uuid import UUID

    from airflow.sdk.api.datamodels._generated import BundleInfo
    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceSDK
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor
    from airflow.utils.state import TaskInstanceState

    # Task SDK 1.3 (Airflow 3.3) renamed supervise() to supervise_task(), same keywords; the old
    # name warns. Earlier SDKs have only supervise().
    supervise = getattr(supervisor, "supervise_task", None) or supervisor.supervise

    ti.set_state(TaskInstanceState.QUEUED)  # the Execution API starts only a queued task
    supervise(
        ti=TaskInstanceSDK(
            id=UUID(str(ti.id)),
            task_id=ti.task_id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            try_number=ti.try_number,
            map_index=ti.map_index,
            dag_version_id=UUID(str(ti.dag_version_id)),
        ),
        bundle_info=BundleInfo(name="dags-folder"),
        dag_rel_path=Path(task.dag.fileloc).relative_to(DAGS),
        token="",
        client=InProcessTestSupervisor._api_client(task.dag),
        subprocess_logs_to_stdout=True,
    )


def run_and_record(dagbag, dag_id: str, trigger: str, conf: dict | None = None):
    """run_dag, and the run's task states read at once: the next dag.test() of the same DAG clears
    the task instances of every run that has no logical date."""
    dag_run = run_dag(dagbag, dag_id, trigger, conf)
    return dag_run, task_states(dag_run)


def task_states(dag_run) -> dict[str, tuple[str, int]]:
    """(state, try_number) of every task of the run, as the metadata database holds them."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances(session=session)}


def xcom_value(dag_run, task_id: str):
    """The task's return value as Airflow stored it for the run."""
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_3:
            from airflow.models.xcom import XComModel

            query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
            row = session.scalars(query).first()
            return None if row is None else XComModel.deserialize_value(row)
        from airflow.models.xcom import XCom

        row = XCom.get_many(
            run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value", session=session
        ).first()
        return None if row is None else row.value


def run_timestamp_of(dag_run) -> datetime:
    """What the DAGs take as the run's timestamp, from the run as the database holds it."""
    return dag_run.logical_date or dag_run.run_after if AIRFLOW_3 else dag_run.logical_date


def sample_reconciled(pipeline_id: str, batch_id: str) -> dict:
    """What the check task returns for a clean run over the lab's sample input (pyspark/data/
    scoring.csv: 400 rows, 5 of them broken on purpose)."""
    return {
        "pipeline_id": pipeline_id,
        "run_rows": 1,
        "batch_id": batch_id,
        "read": 400,
        "scored": 395,
        "rejected": 5,
        "prediction_rows": 395,
        "reject_rows": 5,
    }
