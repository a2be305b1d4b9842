"""Google Cloud on localhost, at the wire: what the Google provider's clients send is real.

- Dataproc: the Dataproc twin (local/dataproc), its gRPC server in this process, reached through
  the redirect the local Airflow loads (local/composer/dataproc_redirect.py), so the provider's
  own DataprocHook and google-cloud-dataproc's client send every request, and the twin answers it
  as it answers the local lab (validation, states, operations, cancellation). Its batches run as
  ScriptedRun says (a short Python process each, no Spark: these tests are about what Airflow and
  the operator do with a batch's states; test_check_on_emulator.py runs real batches). Recorder
  keeps every request as received and can refuse chosen calls with PERMISSION_DENIED, as right
  after a deploy while IAM propagates.
- BigQuery: an HTTP server answering the REST calls google-cloud-bigquery makes for a query job
  (jobs.insert, jobs.get, jobs.getQueryResults); the client finds it through BIGQUERY_EMULATOR_HOST,
  which google.cloud.bigquery._helpers reads. Each job's JSON body is kept as it was sent.
- Credentials: the anonymous connection the local Airflow uses (providers-google `is_anonymous`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import grpc
from google.cloud import dataproc_v1

State = dataproc_v1.Batch.State
FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)


class Recorder(grpc.ServerInterceptor):
    """Every request the twin receives, as (method, request message), in order. `refuse(method,
    request)` returns a message to answer PERMISSION_DENIED with, or None to let the call through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.refuse: Callable[[str, Any], str | None] = lambda method, request: None
        self._lock = threading.Lock()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method, inner = handler_call_details.method.rsplit("/", 1)[-1], handler.unary_unary

        def recorded(request, context):
            with self._lock:
                self.calls.append((method, request))
            denied = self.refuse(method, request)
            if denied:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, denied)
            return inner(request, context)

        return handler._replace(unary_unary=recorded)

    def requests(self, method: str) -> list[Any]:
        with self._lock:
            return [request for m, request in self.calls if m == method]


# What a scripted batch's process does: exit 0; print the job's error line and exit 2; run until
# stopped; run until stopped, and after SIGTERM only once released.
_PROGRAMS = {
    "succeed": "print('job done')",
    "fail": "import sys; print(\"ERROR: model version 'v9' not found\", file=sys.stderr); sys.exit(2)",
    "hold": "import time; print('running', flush=True); time.sleep(600)",
    # Stops only once the test releases it (ScriptedRun.release) after SIGTERM: seen CANCELLING until then.
    "slow-stop": (
        "import os, signal, sys, time\n"
        "def stop(*a):\n"
        "    deadline = time.monotonic() + 120\n"
        "    while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline: time.sleep(0.05)\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('running', flush=True)\ntime.sleep(600)"
    ),
}


class ScriptedRun:
    """The Dataproc twin's executor for these tests: `plan(batch_id)` says what each batch does,
    one of "succeed" (the default), "fail", "hold", "slow-stop", "pending" (stays PENDING until
    cancelled), "cancel" (holds, and a user cancels it at once, as from the console) or
    "cancel-slow" (the same, its process stopping only once released). Files are not fetched:
    every URI exists."""

    def __init__(self) -> None:
        self.plan: Callable[[str], str] = lambda batch_id: "succeed"
        self.twin = None  # set by the fixture: a user's cancel goes to it
        self.folder: Path | None = None

    def release(self, batch_id: str) -> None:
        """Lets a "slow-stop" batch's process exit after its SIGTERM."""
        (self.folder / f"{batch_id}.release").touch()

    def exists(self, uri: str) -> bool:
        return True

    def stage(self, batch, work: Path) -> dict:
        plan = self.plan(batch.name.rsplit("/", 1)[-1])
        if plan == "pending":
            deadline = time.monotonic() + 120
            while batch.state != State.CANCELLING and time.monotonic() < deadline:
                time.sleep(0.05)
        return {"plan": plan}

    def start(self, batch, staged: dict, output: Path) -> subprocess.Popen:
        plan = staged["plan"]
        program = _PROGRAMS[{"cancel": "hold", "cancel-slow": "slow-stop"}.get(plan, plan)]
        with open(output, "ab") as out:
            release = output.parent.parent / f"{batch.name.rsplit('/', 1)[-1]}.release"
            self.folder = release.parent
            cmd = [sys.executable, "-c", program, str(release)]
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if plan in ("cancel", "cancel-slow"):
            threading.Thread(target=self._user_cancels, args=(batch.operation,), daemon=True).start()
        return proc

    def _user_cancels(self, operation: str) -> None:
        time.sleep(0.2)  # once the batch is RUNNING
        self.twin.cancel(operation, context=None)

    def publish(self, uri: str, data: bytes) -> None:
        pass


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
