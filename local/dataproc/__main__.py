"""python -m local.dataproc serve STATE_DIR          the Dataproc twin's server (what start() runs)
python -m local.dataproc batches STATE_DIR [BATCH]  the console's Batches page: every batch, or one
                                                    with its driver output (batches.py)

Both run in the twin environment (scripts/python-env.sh twin), from the repository root."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path


def twin_spark(state_dir: Path):
    """The twin's side of every batch: the spark environment, the emulators' endpoints and the
    Spark settings the local lab uses for the twin (local/connector/jars.py), one definition."""
    from local.connector.jars import ensure_jars, spark_conf
    from local.dataproc.runner import TwinSpark
    from local.twin.emulators import TwinState, python_env

    state = TwinState.load(state_dir)
    spark = python_env("spark")
    return TwinSpark(
        spark_submit=spark / "bin" / "spark-submit",
        python=spark / "bin" / "python",
        gcs_endpoint=state.gcs_endpoint,
        env=state.client_env(),
        conf=spark_conf(state, ensure_jars()),
        state_dir=Path(state_dir),
    )


def serve(state_dir: Path, port: int) -> int:
    import os

    from local.dataproc import Running
    from local.dataproc.project import Project
    from local.dataproc.server import DataprocTwin
    from local.dataproc.server import serve as start_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from local.dataproc.runner import SparkSubmit

    twin = DataprocTwin(state_dir, Project.load(state_dir), SparkSubmit(twin_spark(state_dir)))
    server, port = start_server(twin, port)
    Running(f"127.0.0.1:{port}", os.getpid(), str(Path(state_dir) / "logs" / "dataproc-twin.log")).save(state_dir)
    logging.info("Dataproc twin for %s listening on 127.0.0.1:%d", state_dir, port)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    twin.shutdown()
    server.stop(grace=2).wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m local.dataproc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the Dataproc twin's server for a deployed twin")
    s.add_argument("state_dir", type=Path)
    s.add_argument("--port", type=int, default=0, help="default: a free port")
    b = sub.add_parser("batches", help="list the twin's batches, or show one with its driver output")
    b.add_argument("state_dir", type=Path)
    b.add_argument("batch", nargs="?", help="a batch id: show it, with its driver output")
    b.add_argument("--tail", type=int, default=60, help="driver output lines shown (0: all)")
    a = p.parse_args(argv)
    if a.command == "serve":
        return serve(a.state_dir.resolve(), a.port)
    from local.dataproc import batches

    return batches.main(a.state_dir.resolve(), a.batch, a.tail)


if __name__ == "__main__":
    sys.exit(main())
