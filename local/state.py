"""The records the local lab keeps of what it started, one JSON file each under its state folder.

A server started by one command (`npm run local`, `python -m local.dataproc serve`, ...) is found
again by the next from its record: LocalAirflow (airflow/airflow.json), HistoryServer
(history/running.json) and the Dataproc twin's Running (dataproc/server.json) are dataclasses
saved and loaded the same way, here.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import ClassVar, TypeVar

R = TypeVar("R", bound="StateRecord")


class StateRecord:
    """Mixed into a dataclass: saved as STATE_DIR/<RECORD> and loaded back from it."""

    RECORD: ClassVar[str]

    @classmethod
    def state_file(cls, state_dir: Path) -> Path:
        return Path(state_dir) / cls.RECORD

    def save(self, state_dir: Path) -> None:
        """Written whole or not at all (a reader never sees half a record)."""
        path = self.state_file(state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))  # type: ignore[call-overload]
        tmp.replace(path)

    @classmethod
    def load(cls: type[R], state_dir: Path) -> R | None:
        """The record, or None when nothing was started (or it was stopped)."""
        path = cls.state_file(state_dir)
        return cls(**json.loads(path.read_text())) if path.exists() else None
