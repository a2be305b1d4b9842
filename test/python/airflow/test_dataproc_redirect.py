"""The Dataproc redirect the local Airflow loads (local/composer/dataproc_redirect.py): it changes
DataprocHook's batch client and nothing else, and that client reaches the Dataproc twin on an
insecure channel with the anonymous connection the local Airflow runs with."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # last: `import airflow` and `import pyspark` stay the installed packages


def _classes():
    from google.cloud.dataproc_v1 import BatchControllerClient
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport
    from s8s_common import LabBatchOperator

    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.dataproc import DataprocAsyncHook, DataprocHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    return [
        DataprocCreateBatchOperator,
        LabBatchOperator,
        DataprocHook,
        DataprocAsyncHook,
        GoogleBaseHook,
        BigQueryHook,
        GCSHook,
        BatchControllerClient,
        BatchControllerGrpcTransport,
    ]


@pytest.fixture()
def redirected(monkeypatch):
    """The redirect installed for one test, DataprocHook restored afterwards."""
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    def install(address: str):
        monkeypatch.setenv("S8S_DATAPROC_TWIN", address)
        monkeypatch.setattr(DataprocHook, "get_batch_client", DataprocHook.get_batch_client)  # restored at teardown
        module = importlib.import_module("local.composer.dataproc_redirect")
        importlib.reload(module)  # importing it installs the redirect
        return module

    return install


def test_the_redirect_changes_only_the_hooks_batch_client(redirected):
    classes = _classes()
    before = {cls: dict(vars(cls)) for cls in classes}
    module = redirected("127.0.0.1:1")
    changed = sorted(
        (cls.__name__, name)
        for cls in classes
        for name in set(before[cls]) | set(vars(cls))
        if before[cls].get(name) is not vars(cls).get(name)
    )
    assert changed == [("DataprocHook", "get_batch_client")]
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    assert DataprocHook.get_batch_client is module.get_batch_client


@pytest.mark.parametrize("address", ["us-central1-dataproc.googleapis.com:443", "127.0.0.1", "localhost:5000"])
def test_an_address_that_is_not_the_local_twin_is_refused_by_name(redirected, address):
    with pytest.raises(RuntimeError, match=rf"S8S_DATAPROC_TWIN={address!r} is not the Dataproc twin's address"):
        redirected(address)


@pytest.fixture()
def twin_server(tmp_path):
    """The Dataproc twin's server in this process, for a project like the stack's; no batch runs
    here (the requests below are answered before a batch would start)."""
    from local.dataproc.project import Project
    from local.dataproc.runner import SparkSubmit, TwinSpark
    from local.dataproc.server import DataprocTwin, serve

    project = Project(
        project="twin-project",
        region="us-central1",
        subnetworks=["projects/twin-project/regions/us-central1/subnetworks/s8s-subnet"],
        service_accounts=["s8s-spark-sa@twin-project.iam.gserviceaccount.com"],
    )
    spark = TwinSpark(tmp_path / "none", tmp_path / "none", "http://127.0.0.1:9", {}, {}, tmp_path)
    server, port = serve(DataprocTwin(tmp_path, project, SparkSubmit(spark)))
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_the_redirected_hook_reaches_the_twin_anonymously(redirected, twin_server, monkeypatch):
    """The provider's own hook, on the anonymous connection local.dataproc.airflow_env gives the
    local Airflow: its credentials are anonymous, and its requests are answered by the twin."""
    from google.api_core.exceptions import InvalidArgument, NotFound
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.dataproc_v1 import Batch

    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "twin-project"}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    redirected(twin_server)
    hook = DataprocHook()
    assert isinstance(hook.get_credentials(), AnonymousCredentials)
    with pytest.raises(NotFound, match="batches/never-created"):
        hook.get_batch(batch_id="never-created", region="us-central1", project_id="twin-project")
    batch = Batch(pyspark_batch={"main_python_file_uri": "gs://b/job.py"}, runtime_config={"version": "2.0"})
    with pytest.raises(InvalidArgument, match=r"runtime_config.version '2.0'"):
        hook.create_batch(region="us-central1", project_id="twin-project", batch=batch, batch_id="redirect-test")
