"""The twin's Cloud Storage connector and Hadoop client jars: downloaded by Maven, checked against
the sha256 each has in scripts/requirements/twin-jars.txt, and the Spark settings that use them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from local.twin.emulators import REPO, TwinError, TwinState

JARS_LOCK = REPO / "scripts" / "requirements" / "twin-jars.txt"


def locked_jars() -> list[tuple[str, str, str]]:
    """(Maven coordinates, file name, sha256) from scripts/requirements/twin-jars.txt."""
    rows = []
    for line in JARS_LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            coords, sha = line.split()
            parts = coords.split(":")
            name = f"{parts[1]}-{parts[2]}" + (f"-{parts[4]}" if len(parts) == 5 else "") + ".jar"
            rows.append((coords, name, sha))
    return rows


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_jars(folder: Path | None = None) -> list[Path]:
    """The twin's jars, downloaded once by Maven (dependency:copy) and checked against their sha256."""
    folder = folder or REPO / ".venv" / "twin-jars"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for coords, name, want in locked_jars():
        jar = folder / name
        if not jar.exists():
            if shutil.which("mvn") is None:
                raise TwinError(f"Maven (mvn) is needed to download {coords}; install Maven 3 and retry")
            cmd = [
                "mvn",
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact={coords}",
                f"-DoutputDirectory={folder}",
                "-Dtransitive=false",
            ]
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if done.returncode != 0 or not jar.exists():
                tail = "\n".join(done.stdout.splitlines()[-5:])
                raise TwinError(f"could not download {coords} with Maven:\n{tail}")
        got = sha256(jar)
        if got != want:
            jar.unlink()
            raise TwinError(f"{jar.name}: sha256 {got} is not the pinned {want} ({JARS_LOCK.name}); the file was removed")
        out.append(jar)
    return out


def spark_conf(state: TwinState, jars: list[Path]) -> dict[str, str]:
    """Spark settings that send gs:// through the Cloud Storage connector to the emulator.

    The connector jar needs Hadoop 3.3.5 or newer (Options.OpenFileOptions) and PyPI's PySpark bundles
    Hadoop 3.3.4, so Hadoop's 3.3.6 client jars go first on the driver's class path
    (spark.driver.extraClassPath is prepended; local mode runs everything in the driver)."""
    return {
        "spark.driver.extraClassPath": os.pathsep.join(str(j) for j in jars),
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "spark.hadoop.fs.gs.storage.root.url": state.gcs_endpoint + "/",
        "spark.hadoop.fs.gs.auth.type": "UNAUTHENTICATED",
        "spark.hadoop.fs.gs.project.id": state.project,
    }
