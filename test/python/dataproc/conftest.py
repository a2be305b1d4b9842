"""The Dataproc twin's suite (twin environment; scripts/test-dataproc.sh): the stack deployed into
the cloud twin once (local.twin.deploy), the Dataproc twin's server started for it
(local.dataproc.start), and Google's own client talking to it over gRPC.

Batches are built as the lab's DAGs build them: the stack's Airflow variables (the Composer
environment's env_variables the deploy saved), the batch size the DAGs send
(airflow/dags/batch_size.json), the objects the stack uploaded."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))  # the `local` package; pyspark/ and airflow/ have no __init__.py, so installed packages win
BATCH_SIZE = json.loads((REPO / "airflow" / "dags" / "batch_size.json").read_text())["properties"]


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    from local.twin import deploy, emulators

    root = tmp_path_factory.mktemp("twin")
    emulators.up(root)
    try:
        deploy.deploy(root)
        yield root
    finally:
        emulators.down(root)


@pytest.fixture(scope="session")
def state(root):
    from local.twin.emulators import TwinState

    return TwinState.load(root)


@pytest.fixture(scope="session")
def variables(root) -> dict[str, str]:
    """The Airflow variables the stack gives the Composer environment, by name."""
    env = json.loads((root / "composer" / "environment.json").read_text())["software_config"]["env_variables"]
    return {k.removeprefix("AIRFLOW_VAR_").lower(): v for k, v in env.items() if k.startswith("AIRFLOW_VAR_")}


@pytest.fixture(scope="session")
def twin(root):
    from local import dataproc

    running = dataproc.start(root, python=Path(sys.executable))
    yield running
    dataproc.stop(root)


@pytest.fixture(scope="session")
def client(twin):
    import grpc
    from google.cloud import dataproc_v1
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport

    return dataproc_v1.BatchControllerClient(transport=BatchControllerGrpcTransport(channel=grpc.insecure_channel(twin.address)))


@pytest.fixture(scope="session")
def parent(variables) -> str:
    return f"projects/{variables['project_id']}/locations/{variables['region']}"


@pytest.fixture(scope="session")
def lab_batch(variables):
    """A Batch as the lab's DAGs send it (s8s_common.spark_batch), for a main file under the code bucket."""
    from google.cloud import dataproc_v1

    def make(main: str, args: list[str], properties: dict | None = None, **execution) -> dataproc_v1.Batch:
        v = variables
        exec_config = {
            "service_account": v["umsa_fqn"],
            "subnetwork_uri": v["subnet"],
            "staging_bucket": v["spark_bucket"],
        } | execution
        return dataproc_v1.Batch(
            pyspark_batch={"main_python_file_uri": main, "args": args},
            runtime_config={
                "version": v["spark_runtime_version"],
                "properties": BATCH_SIZE if properties is None else properties,
            },
            environment_config={
                "execution_config": exec_config,
                "peripherals_config": {
                    "spark_history_server_config": {
                        "dataproc_cluster": f"projects/{v['project_id']}/regions/{v['region']}/clusters/{v['phs_server']}"
                    }
                },
            },
            labels={"airflow-dag-id": "twin-suite", "lab": "s8s"},
        )

    return make


@pytest.fixture(scope="session")
def lab_job(lab_batch, variables):
    """A batch of one of the lab's jobs as the DAGs send it: the entry point the deploy uploaded and
    the jobs' package as the stack's archive (python_file_uris, which Spark's --py-files puts on the
    driver's path; a package's loose .py files would land there flat and not import)."""
    code = f"gs://{variables['code_bucket']}/pyspark"

    def make(main_name: str, args: list[str], package: bool = True):
        batch = lab_batch(f"{code}/{main_name}", args)
        if package:
            batch.pyspark_batch.python_file_uris.append(f"{code}/s8s_churn.zip")
        return batch

    return make


def wait(client, name: str, until=("SUCCEEDED", "FAILED", "CANCELLED"), timeout_s: float = 900):
    """Polls GetBatch, as DataprocHook.wait_for_batch does, until the batch reaches a state of `until`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = client.get_batch(name=name)
        if batch.state.name in until:
            return batch
        time.sleep(1)
    raise AssertionError(f"{name} still {batch.state.name} after {timeout_s} s")


HELLO = b'''"""A small job: prints its arguments, counts with Spark, exits."""
import sys

from pyspark.sql import SparkSession

print("HELLO", " ".join(sys.argv[1:]), flush=True)
spark = SparkSession.builder.appName("twin-hello").getOrCreate()
print("COUNT", spark.range(10).count(), flush=True)
'''

SLEEPER = b'''"""Starts Spark, says so, then works for ten minutes (a batch to cancel)."""
import time

from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("twin-sleeper").getOrCreate()
print("READY", flush=True)
time.sleep(600)
'''


def _upload(state, uri: str, data: bytes) -> str:
    from local.twin import gcs

    gcs.upload(state.gcs_endpoint, uri, data, "text/x-python")
    return uri


@pytest.fixture(scope="session")
def hello(state, variables) -> str:
    return _upload(state, f"gs://{variables['code_bucket']}/tests/hello.py", HELLO)


@pytest.fixture(scope="session")
def sleeper(state, variables) -> str:
    return _upload(state, f"gs://{variables['code_bucket']}/tests/sleeper.py", SLEEPER)
