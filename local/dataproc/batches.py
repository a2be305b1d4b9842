"""The console's Batches page for the twin, through the Dataproc API (the real client, as
`gcloud dataproc batches list/describe` would call it): every batch with its state, times and
labels, newest first; or one batch with its settings, state history and driver output."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from local.dataproc import address
from local.dataproc.project import Project
from local.dataproc.runner import batch_dir


def client(state_dir: Path):
    import grpc
    from google.cloud import dataproc_v1
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport

    channel = grpc.insecure_channel(address(state_dir))
    return dataproc_v1.BatchControllerClient(transport=BatchControllerGrpcTransport(channel=channel))


def _time(ts) -> str:
    if not ts:
        return "-"
    return ts.strftime("%Y-%m-%d %H:%M:%S") if isinstance(ts, datetime) else str(ts)


def _elapsed(batch) -> str:
    end = batch.state_time if batch.state.name in ("SUCCEEDED", "FAILED", "CANCELLED") else None
    if not batch.create_time or not end:
        return "-"
    return f"{(end - batch.create_time).total_seconds():.0f} s"


def table(batches) -> str:
    rows = [("BATCH ID", "STATE", "CREATED", "ELAPSED", "LABELS")]
    for b in batches:
        labels = ",".join(f"{k}={v}" for k, v in sorted(b.labels.items()))
        rows.append((b.name.rsplit("/", 1)[-1], b.state.name, _time(b.create_time), _elapsed(b), labels or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] for r in rows)


def describe(batch, output: str) -> str:
    from google.cloud import dataproc_v1

    shown = json.loads(dataproc_v1.Batch.to_json(batch, use_integers_for_enums=False))
    lines = [json.dumps(shown, indent=1), "", "state history:"]
    for h in batch.state_history:
        lines.append(f"  {_time(h.state_start_time)}  {h.state.name}{'  ' + h.state_message if h.state_message else ''}")
    lines.append(f"  {_time(batch.state_time)}  {batch.state.name}{'  ' + batch.state_message if batch.state_message else ''}")
    lines += ["", f"driver output ({batch.runtime_info.output_uri or 'not started'}):", output or "  (none yet)"]
    return "\n".join(lines)


def driver_output(state_dir: Path, batch_id: str, tail: int = 0) -> str:
    """The batch's driver output as the twin holds it (also copied to runtime_info.output_uri)."""
    path = batch_dir(state_dir, batch_id) / "driveroutput"
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-tail:] if tail else lines)


def main(state_dir: Path, batch_id: str | None, tail: int = 60) -> int:
    project = Project.load(state_dir)
    parent = f"projects/{project.project}/locations/{project.region}"
    api = client(state_dir)
    if batch_id is None:
        print(table(api.list_batches(parent=parent)))
        return 0
    from google.api_core.exceptions import NotFound

    try:
        batch = api.get_batch(name=f"{parent}/batches/{batch_id}")
    except NotFound:
        print(f"no batch {batch_id!r} in {parent}")
        return 1
    print(describe(batch, driver_output(state_dir, batch_id, tail)))
    return 0
