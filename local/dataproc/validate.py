"""What CreateBatch refuses, with the status code and a message that names the field.

Each check says where its behaviour comes from. Where Google's exact answer is not documented,
the twin's choice is said so. Runs inside the server (grpcio, google-cloud-dataproc).
"""

from __future__ import annotations

import re

import grpc

from local.dataproc import quota, runtimes
from local.dataproc.project import Project

# CreateBatchRequest.batch_id (google/cloud/dataproc/v1/batches.proto): "This value must be 4-63
# characters. Valid characters are /[a-z][0-9]-/."
BATCH_ID = re.compile(r"^[a-z0-9-]{4,63}$")
PARENT = re.compile(r"^projects/([^/]+)/(?:locations|regions)/([^/]+)$")


class Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def parent(value: str, project: Project) -> tuple[str, str]:
    m = PARENT.match(value)
    if not m:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"parent {value!r} is not of the form projects/PROJECT/locations/REGION")
    if m.group(1) != project.project:
        # Another project is one the caller has no access to, as far as the twin knows.
        raise Refusal(
            grpc.StatusCode.PERMISSION_DENIED,
            f"Permission 'dataproc.batches.create' denied on project {m.group(1)!r} (the twin's project is {project.project!r})",
        )
    if m.group(2) != project.region:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"parent {value!r}: region {m.group(2)!r} has no lab resources; the stack deploys to {project.region!r}",
        )
    return m.group(1), m.group(2)


def batch_id(value: str) -> None:
    if not BATCH_ID.match(value):
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"batch_id {value!r} is not valid: it must be 4-63 characters of lowercase letters, digits and '-' "
            f"(got {len(value)} characters)",
        )


def runtime(version: str) -> runtimes.Runtime:
    found = runtimes.runtime_for(version)
    if found is None:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"runtime_config.version {version!r} is not a runtime Dataproc Serverless creates batches with; "
            f"expected one of {runtimes.creatable()}",
        )
    if not found.runs_here:
        # Google would run it; the twin has only Spark 3.5.3. The twin's own limit, said as such.
        raise Refusal(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"runtime_config.version {version!r} (Spark {found.spark}) cannot run in the twin, "
            "which runs Spark 3.5 runtimes only (2.3, 2.2)",
        )
    return found


def execution(batch, project: Project) -> None:
    """The subnet, the service account and the history server must be the stack's: the twin's
    project holds nothing else. Google answers a name that does not exist at creation with
    INVALID_ARGUMENT (the twin's choice for each of the three; the message names the field)."""
    ex = batch.environment_config.execution_config
    subnet = ex.subnetwork_uri
    if subnet:
        full = (
            subnet
            if subnet.startswith("projects/")
            else f"projects/{project.project}/regions/{project.region}/subnetworks/{subnet}"
        )
        full = full.removeprefix("https://www.googleapis.com/compute/v1/")
        if full not in project.subnetworks:
            raise Refusal(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"environment_config.execution_config.subnetwork_uri {subnet!r} does not exist in project "
                f"{project.project!r}; its subnetworks: {', '.join(project.subnetworks)}",
            )
    if ex.network_uri:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            "environment_config.execution_config.network_uri: the twin's project has only the stack's subnet; "
            "name it in subnetwork_uri",
        )
    account = ex.service_account
    if account and account not in project.service_accounts:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"environment_config.execution_config.service_account {account!r} does not exist in project "
            f"{project.project!r}; its accounts: {', '.join(project.service_accounts)}",
        )
    cluster = batch.environment_config.peripherals_config.spark_history_server_config.dataproc_cluster
    if cluster and cluster not in project.history_clusters:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"environment_config.peripherals_config.spark_history_server_config.dataproc_cluster {cluster!r} "
            f"does not exist; the project's history server: {', '.join(project.history_clusters) or 'none'}",
        )


def cpus(properties: dict[str, str], project: Project, in_use: int) -> dict:
    """The batch's footprint, or a refusal when the region's CPUS quota cannot hold it next to
    what already runs (the history server and live batches). Dataproc refuses a request over
    quota with INVALID_ARGUMENT and "Insufficient 'CPUS' quota. Requested N, available M."
    (its cluster validation message, e.g. GoogleCloudPlatform/data-science-on-gcp issue #163)."""
    try:
        need = quota.batch_footprint(properties)
    except quota.QuotaError as e:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"runtime_config.properties: {e}") from e
    available = project.cpus_quota - in_use
    if need["vcpus"] > available:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Insufficient 'CPUS' quota. Requested {float(need['vcpus'])}, available {float(available)} "
            f"(runtime_config.properties: {need['vcpus']} vCPUs; region {project.region} "
            f"limit {project.cpus_quota}, {in_use} in use)",
        )
    return need
