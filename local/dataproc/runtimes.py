"""The Dataproc Serverless runtime versions Google creates batches with, as the twin accepts them.

Source: Serverless for Apache Spark runtime releases
(https://cloud.google.com/dataproc-serverless/docs/concepts/versions/spark-runtime-versions),
as summarised in the project's BRIEF on 2026-12-05:
- 2.3 LTS (Spark 3.5.3, Java 17, Python 3.11, Scala 2.13): the only LTS runtime in support, to 2027-11-26;
- 2.2 LTS (Spark 3.5.1, Python 3.12) and 1.2 LTS: support ended 2026-09-30; a batch can still be
  created on them until 2028-09-30 (end of availability), without fixes;
- 3.0 (Spark 4.0.1, Java 21, Python 3.12): no Persistent History Server; support ends 2027-01-31.
Versions before these (1.0, 1.1, 2.0, 2.1) are past their availability date: Google refuses them.

A version is sent as major.minor ("2.3") or with a sub-minor release ("2.3.12"); both name the
same runtime here. The twin runs every batch on the local Spark 3.5.3 (PyPI's pyspark, the spark
environment), so it runs only the Spark 3.5 runtimes and says so for 3.0 and 1.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    version: str
    spark: str
    status: str  # what Google says of it today
    runs_here: bool  # the twin's Spark 3.5.3 can stand in for it
    history_server: bool = True  # a batch may name a Persistent History Server


RUNTIMES = {
    r.version: r
    for r in (
        Runtime("2.3", "3.5.3", "LTS, supported until 2027-11-26", True),
        Runtime("2.2", "3.5.1", "support ended 2026-09-30; creatable until 2028-09-30", True),
        Runtime("1.2", "3.3.2", "support ended 2026-09-30; creatable until 2028-09-30", False),
        Runtime("3.0", "4.0.1", "supported until 2027-01-31", False, history_server=False),
    )
}
# What a batch without runtime_config.version runs on in the twin: the lab's runtime (the LTS in
# support). Google picks its own default, which moves with its releases.
DEFAULT = "2.3"
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


def runtime_for(version: str) -> Runtime | None:
    """The runtime a runtime_config.version names, or None if Google does not create it."""
    m = _VERSION.match(version or DEFAULT)
    return RUNTIMES.get(f"{m.group(1)}.{m.group(2)}") if m else None


def creatable() -> str:
    return ", ".join(sorted(RUNTIMES, reverse=True))
