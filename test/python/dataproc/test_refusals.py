"""Every CreateBatch the twin refuses: Google's status code, a message naming the field, and no
batch left behind. Sent by google-cloud-dataproc's own client, so the request is the real one."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions


@pytest.fixture(scope="module")
def main_file(variables) -> str:
    return f"gs://{variables['code_bucket']}/pyspark/batch_scoring.py"  # uploaded by the deploy


def refused(client, parent, batch_id, batch):
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        client.create_batch(parent=parent, batch_id=batch_id, batch=batch)
    names = [b.name.rsplit("/", 1)[-1] for b in client.list_batches(parent=parent)]
    assert batch_id not in names, f"a refused batch was kept: {batch_id}"
    return caught.value


@pytest.mark.parametrize(
    "batch_id",
    ["abc", "a" * 64, "Upper-case", "under_score", "dots.no", "s8s score"],
    ids=["3-chars", "64-chars", "upper", "underscore", "dot", "space"],
)
def test_a_batch_id_outside_4_to_63_of_a_z_0_9_dash_is_invalid(client, parent, lab_batch, main_file, batch_id):
    error = refused(client, parent, batch_id, lab_batch(main_file, []))
    assert isinstance(error, exceptions.InvalidArgument), error
    assert "batch_id" in error.message and repr(batch_id) in error.message
    assert "4-63 characters" in error.message


def test_ids_at_the_limits_are_accepted_then_an_existing_id_already_exists(client, parent, lab_batch, variables, hello):
    """4 and 63 characters pass; sending the same id again is ALREADY_EXISTS (what the provider's
    operator catches to attach to the batch)."""
    for batch_id in ("a1-b", "z" * 63):
        op = client.create_batch(parent=parent, batch_id=batch_id, batch=lab_batch(hello, []))
        assert op.metadata.batch == f"{parent}/batches/{batch_id}"
        op.result(timeout=600)
    error = refused_again(client, parent, "a1-b", lab_batch(hello, []))
    assert isinstance(error, exceptions.AlreadyExists), error
    assert f"{parent}/batches/a1-b" in error.message


def refused_again(client, parent, batch_id, batch):
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        client.create_batch(parent=parent, batch_id=batch_id, batch=batch)
    return caught.value


@pytest.mark.parametrize("version", ["2.1", "2.0", "1.1", "9.9", "latest", "2.3-debian12"])
def test_a_runtime_version_google_does_not_create_is_invalid(client, parent, lab_batch, main_file, version):
    batch = lab_batch(main_file, [])
    batch.runtime_config.version = version
    error = refused(client, parent, "s8s-runtime-test", batch)
    assert isinstance(error, exceptions.InvalidArgument), error
    assert f"runtime_config.version {version!r}" in error.message
    assert "expected one of 3.0, 2.3, 2.2, 1.2" in error.message


def test_a_runtime_google_creates_but_the_twin_cannot_run_says_so(client, parent, lab_batch, main_file):
    batch = lab_batch(main_file, [])
    batch.runtime_config.version = "3.0"
    error = refused(client, parent, "s8s-runtime-30", batch)
    assert isinstance(error, exceptions.FailedPrecondition), error
    assert "runtime_config.version '3.0'" in error.message and "Spark 4.0.1" in error.message


def test_a_main_file_missing_from_its_bucket_is_invalid(client, parent, lab_batch, variables):
    missing = f"gs://{variables['code_bucket']}/pyspark/no_such_job.py"
    error = refused(client, parent, "s8s-missing-main", lab_batch(missing, []))
    assert isinstance(error, exceptions.InvalidArgument), error
    assert "main_python_file_uri" in error.message and missing in error.message


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("subnetwork_uri", "projects/twin-project/regions/us-central1/subnetworks/default", "subnetwork_uri"),
        ("subnetwork_uri", "other-subnet", "subnetwork_uri"),
        ("service_account", "someone@twin-project.iam.gserviceaccount.com", "service_account"),
        ("service_account", "123-compute@developer.gserviceaccount.com", "service_account"),
    ],
    ids=["subnet-uri", "subnet-name", "account", "compute-default"],
)
def test_a_subnet_or_account_outside_the_stack_is_invalid(client, parent, lab_batch, main_file, field, value, names):
    error = refused(client, parent, "s8s-not-in-project", lab_batch(main_file, [], **{field: value}))
    assert isinstance(error, exceptions.InvalidArgument), error
    assert f"environment_config.execution_config.{names} {value!r} does not exist" in error.message


def test_a_history_server_that_is_not_the_stacks_is_invalid(client, parent, lab_batch, main_file):
    batch = lab_batch(main_file, [])
    other = "projects/twin-project/regions/us-central1/clusters/other-phs"
    batch.environment_config.peripherals_config.spark_history_server_config.dataproc_cluster = other
    error = refused(client, parent, "s8s-other-phs", batch)
    assert isinstance(error, exceptions.InvalidArgument), error
    assert "spark_history_server_config.dataproc_cluster" in error.message and other in error.message


def test_a_batch_larger_than_the_regional_cpus_quota_is_refused(client, parent, lab_batch, main_file, root):
    """The twin's project has the regional CPUS limit of project.json (24, the quotas page's
    default), the history server's e2-standard-2 holds 2 of them: 4 + 8 x 4 = 36 vCPUs cannot run."""
    from local.dataproc.project import Project

    project = Project.load(root)
    assert (project.cpus_quota, project.history_vcpus) == (24, 2)
    big = {**lab_batch(main_file, []).runtime_config.properties, "spark.executor.instances": "8"}
    error = refused(client, parent, "s8s-too-big", lab_batch(main_file, [], properties=big))
    assert isinstance(error, exceptions.InvalidArgument), error
    assert re.search(r"Insufficient 'CPUS' quota\. Requested 36\.0, available \d+\.0", error.message), error.message


def test_a_batch_size_preflight_cannot_count_names_the_property(client, parent, lab_batch, main_file):
    size = {**lab_batch(main_file, []).runtime_config.properties, "spark.executor.instances": "two"}
    error = refused(client, parent, "s8s-bad-size", lab_batch(main_file, [], properties=size))
    assert isinstance(error, exceptions.InvalidArgument), error
    assert 'runtime_config.properties: batch size spark.executor.instances: "two" is not valid' in error.message


def test_a_batch_in_another_project_is_denied(client, lab_batch, main_file):
    error = refused_elsewhere(client, "projects/other-project/locations/us-central1", lab_batch(main_file, []))
    assert isinstance(error, exceptions.PermissionDenied), error


def refused_elsewhere(client, parent, batch):
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        client.create_batch(parent=parent, batch_id="s8s-elsewhere", batch=batch)
    return caught.value
