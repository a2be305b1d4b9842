"""The one change the local Airflow makes to the Google provider: DataprocHook's batch client talks
to the Dataproc twin (local/dataproc) instead of <region>-dataproc.googleapis.com:443.

Loaded only by the local Airflow (local/composer), never by the DAGs or in the cloud: importing it
installs the redirect when S8S_DATAPROC_TWIN holds the twin's host:port (local.dataproc.address).

Why a redirect at all: DataprocHook has no setting for its address. `_get_api_endpoint` returns
f"{region}-dataproc.googleapis.com:443" and the generated client opens a TLS channel to it
(providers-google 22.x, hooks/dataproc.py). So the hook's get_batch_client is replaced by one that
builds the same BatchControllerClient on an insecure channel to 127.0.0.1; everything above it
(DataprocCreateBatchOperator, the hook's create_batch/get_batch/wait_for_batch, the operations
client it derives from the batch client) and every Google class stays as the provider ships it.

The rest needs no code: the connection is anonymous (providers-google 22.x `is_anonymous`), and
google-cloud-bigquery and google-cloud-storage follow BIGQUERY_EMULATOR_HOST and
STORAGE_EMULATOR_HOST (local.dataproc.airflow_env sets all of them).
"""

from __future__ import annotations

import os

ENV = "S8S_DATAPROC_TWIN"  # local.dataproc.REDIRECT_ENV


def _twin_address() -> str:
    address = os.environ.get(ENV, "")
    host, _, port = address.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        raise RuntimeError(
            f"{ENV}={address!r} is not the Dataproc twin's address; expected 127.0.0.1:<port> (local.dataproc.address)"
        )
    return address


def get_batch_client(self, region: str | None = None):
    """DataprocHook.get_batch_client, on an insecure channel to the twin (the region is in each
    request's parent, as on the real endpoint)."""
    import grpc
    from google.cloud.dataproc_v1 import BatchControllerClient
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport

    channel = grpc.insecure_channel(_twin_address())
    return BatchControllerClient(transport=BatchControllerGrpcTransport(channel=channel), client_info=_client_info())


def _client_info():
    from airflow.providers.google.common.consts import CLIENT_INFO

    return CLIENT_INFO


def install() -> None:
    """Points DataprocHook's batch client at the twin; nothing else is touched."""
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    _twin_address()  # refuse at once, naming the variable, rather than at the first batch
    DataprocHook.get_batch_client = get_batch_client


if os.environ.get(ENV):
    install()
