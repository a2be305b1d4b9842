"""The Dataproc Serverless twin's API: google.cloud.dataproc.v1.BatchController (CreateBatch,
GetBatch, ListBatches, DeleteBatch) and google.longrunning.Operations (GetOperation,
CancelOperation, ListOperations, DeleteOperation) over gRPC on 127.0.0.1.

Requests and replies are Google's own message classes (google-cloud-dataproc's proto-plus types,
googleapis-common-protos' longrunning servicer), so a request the real client sends is parsed as
the service parses it. Each batch lives in STATE_DIR/dataproc/batches/<id>/ (batch.json as
the API reports it), so `batches` and a restarted twin see the batches of earlier runs.

States, as the service reports them: PENDING (files being fetched) -> RUNNING (spark-submit
started) -> SUCCEEDED | FAILED; CancelOperation: CANCELLING -> CANCELLED. state_history holds
every earlier state with its start time; state_message says why a batch failed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent import futures
from datetime import datetime, timezone
from pathlib import Path

import grpc
from google.cloud import dataproc_v1
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, status_pb2

from local.dataproc import runner, validate
from local.dataproc.project import Project
from local.twin import gcs

State = dataproc_v1.Batch.State
LIVE = (State.PENDING, State.RUNNING, State.CANCELLING)
FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
SERVICE = "google.cloud.dataproc.v1.BatchController"
log = logging.getLogger("s8s.dataproc")


def now() -> datetime:
    return datetime.now(timezone.utc)


class Record:
    """One batch: the API's Batch message and what the twin needs to run and cancel it."""

    def __init__(self, batch: dataproc_v1.Batch, folder: Path, request_id: str = "", vcpus: int = 0) -> None:
        self.batch, self.folder, self.request_id, self.vcpus = batch, folder, request_id, vcpus
        self.proc = None
        self.cancel_requested = False
        self.done = threading.Event()

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "batch.json.tmp"
        tmp.write_text(dataproc_v1.Batch.to_json(self.batch))
        tmp.replace(self.folder / "batch.json")
        (self.folder / "twin.json").write_text(json.dumps({"request_id": self.request_id, "vcpus": self.vcpus}))


class DataprocTwin:
    """The batches of one twin project, and the threads that run them."""

    def __init__(self, state_dir: Path, project: Project, executor: runner.SparkSubmit) -> None:
        """`executor` runs the batches: runner.SparkSubmit, or a stand-in with its four methods
        (exists, stage, start, publish) where a test needs no Spark."""
        self.state_dir, self.project, self.executor = Path(state_dir), project, executor
        self.stop_grace_s = 15.0  # SIGTERM to SIGKILL when a batch is cancelled
        self.lock = threading.RLock()
        self.records: dict[str, Record] = {}
        self._load()

    # ------------------------------------------------------------------------------ storage

    def _load(self) -> None:
        """Batches of earlier runs. One still live had its process stopped with the twin: FAILED."""
        root = self.state_dir / runner.BATCHES_DIR
        for path in sorted(root.glob("*/batch.json")):
            batch = dataproc_v1.Batch.from_json(path.read_text(), ignore_unknown_fields=True)
            extra = json.loads((path.parent / "twin.json").read_text()) if (path.parent / "twin.json").exists() else {}
            record = Record(batch, path.parent, extra.get("request_id", ""), extra.get("vcpus", 0))
            if batch.state in LIVE:
                self._move(record, State.FAILED, "the Dataproc twin stopped while the batch was live")
            record.done.set() if batch.state in FINISHED else None
            self.records[batch.name] = record

    def _move(self, record: Record, state, message: str = "") -> None:
        """A state change, with the state it leaves appended to state_history, saved at once."""
        with self.lock:
            b = record.batch
            if b.state != State.STATE_UNSPECIFIED:
                b.state_history.append(
                    dataproc_v1.Batch.StateHistory(state=b.state, state_message=b.state_message, state_start_time=b.state_time)
                )
            b.state, b.state_message, b.state_time = state, message, now()
            record.save()
            if state in FINISHED:
                record.done.set()

    # --------------------------------------------------------------------------- operations

    def operation(self, record: Record) -> operations_pb2.Operation:
        b = record.batch
        metadata = dataproc_v1.BatchOperationMetadata(
            batch=b.name,
            batch_uuid=b.uuid,
            create_time=b.create_time,
            done_time=b.state_time if b.state in FINISHED else None,
            operation_type=dataproc_v1.BatchOperationMetadata.BatchOperationType.BATCH,
            description=f"Batch {b.name.rsplit('/', 1)[-1]}",
            labels=dict(b.labels),
        )
        op = operations_pb2.Operation(name=b.operation, done=b.state in FINISHED)
        op.metadata.Pack(dataproc_v1.BatchOperationMetadata.pb(metadata))
        if b.state == State.FAILED:
            # The twin's choice of code (the service's is not documented); the message is the batch's.
            op.error.CopyFrom(status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=b.state_message))
        elif b.state in (State.SUCCEEDED, State.CANCELLED):
            # A cancelled batch's operation still ends with the batch: "wait_for_operation doesn't
            # fail if the job is cancelled" (providers-google 22.x, DataprocCreateBatchOperator).
            op.response.Pack(dataproc_v1.Batch.pb(b))
        return op

    def by_operation(self, name: str, context) -> Record:
        with self.lock:
            for record in self.records.values():
                if record.batch.operation == name:
                    return record
        context.abort(grpc.StatusCode.NOT_FOUND, f"Operation {name!r} not found")

    # ------------------------------------------------------------------------------ create

    def in_use_vcpus(self) -> int:
        with self.lock:
            live = sum(r.vcpus for r in self.records.values() if r.batch.state in LIVE)
        return self.project.history_vcpus + live

    def create(self, request: dataproc_v1.CreateBatchRequest, context) -> operations_pb2.Operation:
        try:
            record = self._admit(request)
        except validate.Refusal as r:
            log.info("CreateBatch %s refused: %s %s", request.batch_id, r.code.name, r.message)
            context.abort(r.code, r.message)
        threading.Thread(target=self._run, args=(record,), name=f"batch-{record.batch.name}", daemon=True).start()
        return self.operation(record)

    def _admit(self, request: dataproc_v1.CreateBatchRequest) -> Record:
        project, region = validate.parent(request.parent, self.project)
        batch_id = request.batch_id or f"{uuid.uuid4().hex[:32]}"  # the service makes one when none is sent
        validate.batch_id(batch_id)
        name = f"projects/{project}/locations/{region}/batches/{batch_id}"
        with self.lock:
            if request.request_id:
                for record in self.records.values():
                    if record.request_id == request.request_id:
                        return record  # the same request again: its batch, not a second one
            if name in self.records:
                raise validate.Refusal(grpc.StatusCode.ALREADY_EXISTS, f"Batch {name} already exists")
        b = request.batch
        if not b.pyspark_batch.main_python_file_uri:
            which = b._pb.WhichOneof("batch_config")
            raise validate.Refusal(
                grpc.StatusCode.INVALID_ARGUMENT,
                "batch.pyspark_batch.main_python_file_uri is required; the twin runs PySpark batches only "
                f"(got {which or 'no batch config'})",
            )
        validate.runtime(b.runtime_config.version)
        validate.execution(b, self.project)
        self._main_file_exists(b.pyspark_batch.main_python_file_uri)
        with self.lock:  # counted and admitted at once: two creates cannot both take the last vCPUs
            need = validate.cpus(dict(b.runtime_config.properties), self.project, self.in_use_vcpus())
            if name in self.records:
                raise validate.Refusal(grpc.StatusCode.ALREADY_EXISTS, f"Batch {name} already exists")
            batch = dataproc_v1.Batch(b)
            batch_uuid = str(uuid.uuid4())
            batch.name, batch.uuid, batch.create_time = name, batch_uuid, now()
            batch.operation = f"projects/{project}/regions/{region}/operations/{batch_uuid}"
            batch.creator = b.environment_config.execution_config.service_account or f"anonymous@{project}"
            for field in ("state", "state_message", "state_time", "state_history", "runtime_info"):
                batch._pb.ClearField(field)
            record = Record(batch, runner.batch_dir(self.state_dir, batch_id), request.request_id, need["vcpus"])
            if record.folder.exists():  # a deleted batch's leftovers
                import shutil

                shutil.rmtree(record.folder)
            self.records[name] = record
            self._move(record, State.PENDING)
        return record

    def _main_file_exists(self, uri: str) -> None:
        """The service checks the main file at creation; the twin refuses a missing one with
        INVALID_ARGUMENT naming the field (its choice of code: Google's is not documented)."""
        try:
            found = self.executor.exists(uri)
        except gcs.GcsError as e:
            raise validate.Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"batch.pyspark_batch.main_python_file_uri: {e}") from e
        if not found:
            raise validate.Refusal(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch.pyspark_batch.main_python_file_uri {uri!r} does not exist: no such object in Cloud Storage",
            )

    # --------------------------------------------------------------------------------- run

    def _run(self, record: Record) -> None:
        b = record.batch
        output = record.folder / "driveroutput"
        try:
            staged = self.executor.stage(b, record.folder / "work")
        except gcs.GcsError as e:
            return self._move(record, State.FAILED, f"Failed to fetch the batch's files: {e}")
        with self.lock:
            if record.cancel_requested:
                return self._cancelled(record)
            b.runtime_info.output_uri = self._output_uri(b) or output.resolve().as_uri()
            record.proc = self.executor.start(b, staged, output)
            self._move(record, State.RUNNING)
        code = record.proc.wait()
        self._publish_output(b, output)
        with self.lock:
            if record.cancel_requested:
                return self._cancelled(record)
            if code == 0:
                self._move(record, State.SUCCEEDED)
            else:
                cause = runner.failure_cause(output)
                self._move(
                    record,
                    State.FAILED,
                    f"Job failed with message [{cause}]. Additional details can be found at: {b.runtime_info.output_uri}",
                )

    def _cancelled(self, record: Record) -> None:
        self._move(record, State.CANCELLED)

    @staticmethod
    def _output_uri(b: dataproc_v1.Batch) -> str:
        """Where the service puts a batch's driver output: the staging bucket's
        google-cloud-dataproc-metainfo/<uuid>/jobs/srvls-batch-<uuid>/driveroutput."""
        bucket = b.environment_config.execution_config.staging_bucket
        if not bucket:
            return ""
        return f"gs://{bucket}/google-cloud-dataproc-metainfo/{b.uuid}/jobs/srvls-batch-{b.uuid}/driveroutput"

    def _publish_output(self, b: dataproc_v1.Batch, output: Path) -> None:
        uri = b.runtime_info.output_uri
        if uri.startswith("gs://") and output.exists():
            try:
                self.executor.publish(uri + ".000000000", output.read_bytes())
            except gcs.GcsError as e:
                log.warning("driver output of %s not copied to %s: %s", b.name, uri, e)

    # ------------------------------------------------------------------------------ cancel

    def cancel(self, name: str, context) -> empty_pb2.Empty:
        record = self.by_operation(name, context)
        with self.lock:
            if record.batch.state in FINISHED:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Cannot cancel batch {record.batch.name} in state {record.batch.state.name}",
                )
            if record.batch.state == State.CANCELLING:
                return empty_pb2.Empty()
            record.cancel_requested = True
            self._move(record, State.CANCELLING)
            proc = record.proc
        if proc is not None:
            threading.Thread(target=runner.stop, args=(proc, self.stop_grace_s), daemon=True).start()
        return empty_pb2.Empty()

    def shutdown(self) -> None:
        """The server is stopping: its live batches' processes are stopped and the batches end
        FAILED, saying why (a restarted twin would find them dead anyway)."""
        with self.lock:
            live = [r for r in self.records.values() if r.batch.state in LIVE]
            for record in live:
                record.cancel_requested = True
        for record in live:
            if record.proc is not None:
                runner.stop(record.proc, grace_s=5)
            with self.lock:
                if record.batch.state in LIVE:
                    self._move(record, State.FAILED, "the Dataproc twin was stopped while the batch was live")

    def delete(self, name: str, context) -> empty_pb2.Empty:
        with self.lock:
            record = self.records.get(name)
            if record is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Batch {name} not found")
            if record.batch.state not in FINISHED:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Batch {name} is in state {record.batch.state.name}: only a finished batch can be deleted",
                )
            del self.records[name]
            import shutil

            shutil.rmtree(record.folder, ignore_errors=True)
        return empty_pb2.Empty()

    def get(self, name: str, context) -> dataproc_v1.Batch:
        with self.lock:
            record = self.records.get(name)
            if record is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Batch {name} not found")
            return dataproc_v1.Batch(record.batch)

    def list(self, request: dataproc_v1.ListBatchesRequest, context) -> dataproc_v1.ListBatchesResponse:
        project, region = (
            validate.PARENT.match(request.parent).groups() if validate.PARENT.match(request.parent) else (None, None)
        )
        if project is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"parent {request.parent!r} is not of the form projects/PROJECT/locations/REGION",
            )
        prefix = f"projects/{project}/locations/{region}/batches/"
        with self.lock:
            batches = [dataproc_v1.Batch(r.batch) for n, r in self.records.items() if n.startswith(prefix)]
        wanted = _state_filter(request.filter, context)
        if wanted is not None:
            batches = [b for b in batches if b.state == wanted]
        batches.sort(key=lambda b: b.create_time, reverse=True)  # newest first, as the console lists them
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = batches[start : start + size]
        token = str(start + size) if start + size < len(batches) else ""
        return dataproc_v1.ListBatchesResponse(batches=page, next_page_token=token)


def _state_filter(text: str, context):
    """ListBatches' filter, for the one field the twin supports: `state = RUNNING`."""
    if not text:
        return None
    import re

    m = re.fullmatch(r"\s*state\s*=\s*\"?([A-Z_]+)\"?\s*", text)
    if not m or m.group(1) not in State.__members__:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"filter {text!r}: the twin supports only `state = <STATE>`")
    return State[m.group(1)]


class Operations(operations_pb2_grpc.OperationsServicer):
    """google.longrunning.Operations for the batches' operations."""

    def __init__(self, twin: DataprocTwin) -> None:
        self.twin = twin

    def GetOperation(self, request, context):
        return self.twin.operation(self.twin.by_operation(request.name, context))

    def CancelOperation(self, request, context):
        return self.twin.cancel(request.name, context)

    def DeleteOperation(self, request, context):
        self.twin.by_operation(request.name, context)
        return empty_pb2.Empty()

    def ListOperations(self, request, context):
        with self.twin.lock:
            records = list(self.twin.records.values())
        return operations_pb2.ListOperationsResponse(operations=[self.twin.operation(r) for r in records])


def serve(twin: DataprocTwin, port: int = 0, interceptors=()) -> tuple[grpc.Server, int]:
    """Starts the gRPC server on 127.0.0.1 (a free port when 0) and returns it with its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=list(interceptors))

    def unary(method, request_type, response_type):
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=request_type.deserialize,
            response_serializer=(
                response_type.serialize if hasattr(response_type, "serialize") else response_type.SerializeToString
            ),
        )

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "CreateBatch": unary(twin.create, dataproc_v1.CreateBatchRequest, operations_pb2.Operation),
                    "GetBatch": unary(lambda r, c: twin.get(r.name, c), dataproc_v1.GetBatchRequest, dataproc_v1.Batch),
                    "ListBatches": unary(twin.list, dataproc_v1.ListBatchesRequest, dataproc_v1.ListBatchesResponse),
                    "DeleteBatch": unary(lambda r, c: twin.delete(r.name, c), dataproc_v1.DeleteBatchRequest, empty_pb2.Empty),
                },
            ),
        )
    )
    operations_pb2_grpc.add_OperationsServicer_to_server(Operations(twin), server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


def any_batch(op: operations_pb2.Operation) -> dataproc_v1.Batch:
    """The Batch an operation's response carries."""
    packed = any_pb2.Any()
    packed.CopyFrom(op.response)
    return dataproc_v1.Batch.deserialize(packed.value)
