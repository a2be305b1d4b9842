"""Google Cloud on localhost, at the wire: what the Google provider's clients send is real.

- Dataproc: a gRPC server implementing BatchController (CreateBatch, GetBatch) and the
  long-running Operations service's CancelOperation. The provider's own DataprocHook builds a real
  google.cloud.dataproc_v1.BatchControllerClient; only its channel is pointed here, so every request
  is serialized by Google's message classes (an unknown field fails before anything is sent) and
  parsed back here into the same classes.
- BigQuery: an HTTP server answering the REST calls google-cloud-bigquery makes for a query job
  (jobs.insert, jobs.get, jobs.getQueryResults); the client finds it through BIGQUERY_EMULATOR_HOST,
  which google.cloud.bigquery._helpers reads. Each job's JSON body is kept as it was sent.
- Credentials: anonymous, so that no metadata server or key file is asked.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import grpc
from google.cloud import dataproc_v1
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2

State = dataproc_v1.Batch.State
FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)


class FakeDataproc:
    """Batches by resource name. `script` queues the states GetBatch reports for a batch, one per
    call (the last one sticks); a batch with no script reports the state it was created with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []  # (method, request message), in order
        self.batches: dict[str, dataproc_v1.Batch] = {}
        self.script: dict[str, list[int]] = {}
        # What a batch created here ends as; `outcomes` first, one per CreateBatch, then `outcome`.
        self.outcome = State.SUCCEEDED
        self.outcome_message = ""
        self.outcomes: list[int] = []
        # GetBatch calls per resource name to refuse with PERMISSION_DENIED first (as right after
        # a deploy, while IAM propagates): the wait of that attempt fails, its batch lives on.
        self.deny_polls: dict[str, int] = {}
        # Called with each CreateBatchRequest (and the call's context) before it is handled.
        self.before_create: Callable[[dataproc_v1.CreateBatchRequest, grpc.ServicerContext], None] | None = None
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "google.cloud.dataproc.v1.BatchController",
                    {
                        "CreateBatch": grpc.unary_unary_rpc_method_handler(
                            self._create,
                            request_deserializer=dataproc_v1.CreateBatchRequest.deserialize,
                            response_serializer=operations_pb2.Operation.SerializeToString,
                        ),
                        "GetBatch": grpc.unary_unary_rpc_method_handler(
                            self._get,
                            request_deserializer=dataproc_v1.GetBatchRequest.deserialize,
                            response_serializer=dataproc_v1.Batch.serialize,
                        ),
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "google.longrunning.Operations",
                    {
                        "CancelOperation": grpc.unary_unary_rpc_method_handler(
                            self._cancel,
                            request_deserializer=operations_pb2.CancelOperationRequest.FromString,
                            response_serializer=empty_pb2.Empty.SerializeToString,
                        ),
                    },
                ),
            )
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None)

    def channel(self, *args, **kwargs) -> grpc.Channel:
        """Stands in for BatchControllerGrpcTransport.create_channel."""
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def add_batch(self, name: str, state: int, states: list[int] | None = None) -> None:
        """A batch an earlier attempt left behind."""
        self.batches[name] = dataproc_v1.Batch(name=name, state=state, operation=name.replace("/batches/", "/operations/op-"))
        if states:
            self.script[name] = list(states)

    def requests(self, method: str) -> list[Any]:
        return [request for m, request in self.calls if m == method]

    def _create(self, request: dataproc_v1.CreateBatchRequest, context: grpc.ServicerContext) -> operations_pb2.Operation:
        with self._lock:
            self.calls.append(("CreateBatch", request))
            if self.before_create:
                self.before_create(request, context)
            project, region = _parent(request.parent)
            name = f"projects/{project}/locations/{region}/batches/{request.batch_id}"
            if name in self.batches:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Batch {name} already exists")
            operation = f"projects/{project}/regions/{region}/operations/op-{request.batch_id}"
            batch = dataproc_v1.Batch(request.batch)
            batch.name, batch.operation = name, operation
            batch.state = self.outcomes.pop(0) if self.outcomes else self.outcome
            batch.state_message = self.outcome_message
            self.batches[name] = batch
            metadata = any_pb2.Any()
            metadata.Pack(dataproc_v1.BatchOperationMetadata.pb(dataproc_v1.BatchOperationMetadata(batch=name)))
            return operations_pb2.Operation(name=operation, done=False, metadata=metadata)

    def _get(self, request: dataproc_v1.GetBatchRequest, context: grpc.ServicerContext) -> dataproc_v1.Batch:
        with self._lock:
            self.calls.append(("GetBatch", request))
            if self.deny_polls.get(request.name, 0) > 0:
                self.deny_polls[request.name] -= 1
                context.abort(grpc.StatusCode.PERMISSION_DENIED, f"Permission 'dataproc.batches.get' denied on {request.name}")
            batch = self.batches.get(request.name)
            if batch is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Batch {request.name} not found")
            polls = sum(1 for m, r in self.calls if m == "GetBatch" and r.name == request.name)
            if batch.state in (State.PENDING, State.RUNNING) and polls > 20:
                # A batch nobody cancels stays live: end a wait that would never end.
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{request.name} still {batch.state.name} after {polls} polls")
            queued = self.script.get(request.name)
            if queued:
                batch.state = queued.pop(0) if len(queued) > 1 else queued[0]
            return batch

    def _cancel(self, request: operations_pb2.CancelOperationRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self._lock:
            self.calls.append(("CancelOperation", request))
            for batch in self.batches.values():
                if batch.operation == request.name:
                    if batch.state in FINISHED:
                        context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{request.name} is already done")
                    # Cancelling takes a while: one more poll sees CANCELLING, then CANCELLED.
                    self.script[batch.name] = [State.CANCELLING, State.CANCELLED]
                    return empty_pb2.Empty()
            context.abort(grpc.StatusCode.NOT_FOUND, f"Operation {request.name} not found")


def _parent(parent: str) -> tuple[str, str]:
    match = re.fullmatch(r"projects/([^/]+)/(?:locations|regions)/([^/]+)", parent)
    assert match, f"not a Dataproc parent: {parent}"
    return match.group(1), match.group(2)


class FakeBigQuery:
    """Query jobs: every inserted job is kept as sent; `answer(job)` gives the rows of its result as
    (schema fields, rows) in BigQuery's REST shapes. Jobs finish at once."""

    def __init__(self, answer: Callable[[dict], tuple[list[dict], list[list[Any]]]]) -> None:
        self.jobs: list[dict] = []
        self.answer = answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # jobs.insert
                match = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs(\?.*)?", self.path)
                if not match:
                    return self._reply(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
                job = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.jobs.append(job)
                self._reply(200, fake._done(job))

            def do_GET(self) -> None:  # jobs.get, jobs.getQueryResults
                path = self.path.split("?", 1)[0]
                job = next((j for j in fake.jobs if path.endswith("/" + j["jobReference"]["jobId"])), None)
                if job is None:
                    return self._reply(404, {"error": {"code": 404, "message": f"no job at {path}"}})
                if "/queries/" in path:
                    fields, rows = fake.answer(job)
                    return self._reply(
                        200,
                        {
                            "kind": "bigquery#getQueryResultsResponse",
                            "jobReference": job["jobReference"],
                            "jobComplete": True,
                            "schema": {"fields": fields},
                            "rows": [{"f": [{"v": None if v is None else str(v)} for v in row]} for row in rows],
                            "totalRows": str(len(rows)),
                        },
                    )
                self._reply(200, fake._done(job))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _done(job: dict) -> dict:
        return {**job, "kind": "bigquery#job", "id": job["jobReference"]["jobId"], "status": {"state": "DONE"}}
