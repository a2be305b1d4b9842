"""A real Airflow 2.10.5 for the DAG tests: a throwaway AIRFLOW_HOME with a SQLite database,
and the Airflow variables set the way the stack sets them, as AIRFLOW_VAR_* variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "airflow" / "dags"
_LISTED = json.loads((REPO / "airflow" / "variables.json").read_text())
VARIABLES = _LISTED["variables"]
OPTIONAL_VARIABLES = set(_LISTED["optional"])

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
    "spark_runtime_version": "2.2",
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


def pytest_sessionstart(session):
    # A real metadata database for rendering runs; `airflow db migrate` is what Composer runs.
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    sys.path.insert(0, str(DAGS))


def worker_dag_run(dagbag, dag_id: str, run_id: str, conf: dict | None = None):
    """(dag, dag_run) as a fresh worker process has them: a copy of the DAG (rendering resolves a
    run's conf into the task's Param objects, which would leak into the next run in this process)
    and the run in the metadata database, created on first use with the logical date in run_id."""
    import copy
    from datetime import datetime

    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    dag = copy.deepcopy(dagbag.get_dag(dag_id))
    when = datetime.fromisoformat(run_id.split("__", 1)[1])  # a logical date per run, as Airflow requires
    dr = dag.get_dagrun(run_id=run_id) or dag.create_dagrun(
        run_id=run_id,
        run_type=DagRunType.MANUAL,
        execution_date=when,
        data_interval=(when, when),
        state=DagRunState.RUNNING,
        conf=conf or {},
        external_trigger=True,
    )
    return dag, dr
