"""The jars of the cloud twin's Spark, obtained once per machine and checked by sha256.

- Google's spark-bigquery connector at the version the batches pin (airflow/dags/connectors.json,
  `bigquery.version`), Scala 2.12 build (PyPI's PySpark is Scala 2.12; runtime 2.3 is Scala 2.13,
  so only the version matches: docs/twin.md). Two ways to get it:
  1. Maven Central by coordinate, where it is served and its sha256 is pinned in
     scripts/requirements/twin-jars.txt (a user's machine on the internet);
  2. otherwise built once from the connector's source tarball at that tag, verified by the sha256
     pinned in the same file (and the .sha256 file beside the tarball). The tarball is read from
     ../shared/vendor/ beside the repository, or wherever S8S_CONNECTOR_SOURCE points.
  Either way the jar is cached under ~/.cache/s8s-scoring-lab/ (S8S_CACHE_DIR), keyed by the
  sha256 of what it came from, so a machine builds it once.
- The Cloud Storage connector and the Hadoop client jars it needs, by Maven coordinate and sha256
  (the `jar` lines of twin-jars.txt).

Standard library only: the Spark, Airflow and twin environments all import this module.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONNECTORS = REPO / "airflow" / "dags" / "connectors.json"
JARS_LOCK = REPO / "scripts" / "requirements" / "twin-jars.txt"
SOURCE_SETTING = "S8S_CONNECTOR_SOURCE"
CACHE_SETTING = "S8S_CACHE_DIR"
JAVA_SETTING = "S8S_JAVA17_HOME"
# PyPI's pyspark 3.5.3 is built with Scala 2.12 (its jars/scala-library-2.12.*.jar).
SCALA_BINARY = "2.12"
BQ_GROUP = "com.google.cloud.spark"
# The Cloud Storage connector's artifact: the twin runs the one `jar` line of twin-jars.txt that names it.
GCS_CONNECTOR = "com.google.cloud.bigdataoss:gcs-connector"
# Module list and profile of the connector's shaded Scala 2.12 jar (its pom.xml, profile dsv1_2.12).
BQ_MODULE = f"spark-bigquery-dsv1/spark-bigquery-with-dependencies_{SCALA_BINARY}"
# The connector reads this file from its own jar at start (SparkBigQueryUtil, BigQueryUtilScala); the
# shaded build leaves it out, so it is added from its template, filled as Maven would fill it.
PROPERTIES = "spark-bigquery-connector.properties"
PROPERTIES_TEMPLATE = f"spark-bigquery-dsv1/src/build/resources/{PROPERTIES}"


class JarError(Exception):
    """A jar that could not be obtained or did not match its pin; the message says what to do."""


def log(message: str) -> None:
    print(f"[connector] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class BigQueryConnector:
    """The connector version the batches pin, and the runtime property that pins it."""

    property: str
    version: str

    @property
    def artifact(self) -> str:
        return f"spark-bigquery-with-dependencies_{SCALA_BINARY}"

    @property
    def coordinates(self) -> str:
        return f"{BQ_GROUP}:{self.artifact}:{self.version}"

    @property
    def jar_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def source_name(self) -> str:
        return f"spark-bigquery-connector-{self.version}-src.tar.gz"


def bigquery_connector() -> BigQueryConnector:
    data = json.loads(CONNECTORS.read_text())["bigquery"]
    return BigQueryConnector(property=data["property"], version=data["version"])


@dataclass(frozen=True)
class Pin:
    kind: str  # jar (a Maven artifact) or source (a source tarball)
    name: str  # Maven coordinates, or the tarball's file name
    sha256: str

    @property
    def version(self) -> str:
        return self.name.split(":")[2]

    @property
    def file_name(self) -> str:
        if self.kind == "source":
            return self.name
        parts = self.name.split(":")  # group:artifact:version[:jar:classifier]
        return f"{parts[1]}-{parts[2]}" + (f"-{parts[4]}" if len(parts) == 5 else "") + ".jar"


def pins() -> list[Pin]:
    """The lines of twin-jars.txt: `<jar|source> <coordinates or file name> <sha256>`."""
    out = []
    for number, line in enumerate(JARS_LOCK.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] not in ("jar", "source") or len(fields[2]) != 64:
            raise JarError(f"{JARS_LOCK}:{number}: expected `jar|source <name> <sha256>`, found {line!r}")
        out.append(Pin(*fields))
    return out


def pin_for(kind: str, name: str) -> Pin | None:
    return next((p for p in pins() if p.kind == kind and p.name == name), None)


def gcs_connector_pin() -> Pin:
    """The Cloud Storage connector the twin's Spark loads: exactly one `jar` line of twin-jars.txt."""
    found = [p for p in pins() if p.kind == "jar" and p.name.startswith(GCS_CONNECTOR + ":")]
    if len(found) != 1:
        raise JarError(f"{JARS_LOCK.relative_to(REPO)} must pin exactly one {GCS_CONNECTOR} jar; found {len(found)}")
    return found[0]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_SETTING) or Path.home() / ".cache" / "s8s-scoring-lab")


@contextlib.contextmanager
def locked(folder: Path):
    """One process at a time fills a cache folder (two test suites may start at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------ Maven


def need_tool(name: str, package: str) -> str:
    """A build tool's path; installed with apt-get where this runs as root (CI, a fresh machine)."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"installing {package} (for {name})")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env, stdout=sys.stderr)
        found = shutil.which(name)
    if not found:
        raise JarError(f"{name} is needed to obtain the twin's jars; install {package} and retry")
    return found


def maven_copy(coordinates: str, folder: Path) -> Path | None:
    """Downloads one artifact by coordinates with Maven (strict checksums); None if not served."""
    mvn = need_tool("mvn", "maven")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-C",
        "dependency:copy",
        f"-Dartifact={coordinates}",
        f"-DoutputDirectory={folder}",
        "-Dtransitive=false",
    ]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder)
    jar = folder / Pin("jar", coordinates, "0" * 64).file_name
    if done.returncode != 0 or not jar.exists():
        tail = [line for line in done.stdout.splitlines() if "ERROR" in line][:2]
        log(f"Maven did not serve {coordinates}: {' '.join(tail)[:300]}")
        return None
    return jar


def checked(path: Path, want: str, what: str) -> Path:
    got = sha256(path)
    if got != want:
        path.unlink()
        raise JarError(f"{what}: sha256 {got} is not the pinned {want} ({JARS_LOCK.relative_to(REPO)}); the file was removed")
    return path


def pinned_jars(folder: Path | None = None) -> list[Path]:
    """The Cloud Storage connector and the Hadoop client jars (twin-jars.txt `jar` lines other than
    the BigQuery connector's), downloaded once and checked against their sha256."""
    folder = folder or cache_root() / "jars"
    out = []
    with locked(folder):
        for pin in pins():
            if pin.kind != "jar" or pin.name.startswith(BQ_GROUP + ":"):
                continue
            jar = folder / pin.file_name
            if not jar.exists() and maven_copy(pin.name, folder) is None:
                raise JarError(f"could not download {pin.name} with Maven; see the messages above")
            out.append(checked(jar, pin.sha256, jar.name))
    return out


# ------------------------------------------------------------------- the BigQuery connector


def source_tarball(connector: BigQueryConnector) -> Path:
    setting = os.environ.get(SOURCE_SETTING)
    path = Path(setting) if setting else REPO.parent / "shared" / "vendor" / connector.source_name
    if not path.is_file():
        where = f"{SOURCE_SETTING}={setting}" if setting else f"the default {path}"
        raise JarError(
            f"the spark-bigquery connector {connector.version} is not served by Maven here and its source "
            f"tarball is not at {where}; set {SOURCE_SETTING} to the path of {connector.source_name}"
        )
    return path


def verified_source(connector: BigQueryConnector) -> tuple[Path, str]:
    """The source tarball and its sha256, checked against the repository's pin and the .sha256 file beside it."""
    path = source_tarball(connector)
    pin = pin_for("source", connector.source_name)
    if pin is None:
        raise JarError(f"{JARS_LOCK.relative_to(REPO)} pins no sha256 for {connector.source_name}")
    got = sha256(path)
    if got != pin.sha256:
        raise JarError(f"{path}: sha256 {got} is not the pinned {pin.sha256}; refusing to build from it")
    beside = path.with_name(path.name + ".sha256")
    if beside.exists() and beside.read_text().split()[0] != got:
        raise JarError(f"{path}: sha256 {got} differs from the one in {beside}")
    return path, got


def java17_home() -> Path:
    """The JDK the toolchains file names: S8S_JAVA17_HOME, or the one whose javac is on PATH."""
    setting = os.environ.get(JAVA_SETTING)
    home = Path(setting) if setting else Path(os.path.realpath(need_tool("javac", "openjdk-17-jdk-headless"))).parents[1]
    out = subprocess.run([str(home / "bin" / "javac"), "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not out.stdout.startswith("javac 17"):
        raise JarError(f"the connector's build needs a JDK 17; {home} has {out.stdout.strip()!r} (set {JAVA_SETTING})")
    return home


def toolchains_xml(home: Path) -> str:
    """The connector's pom asks for a JDK [1.8,9) toolchain (toolchain.jdk.version) while compiling
    with --release 8; JDK 17 compiles --release 8 too, so it is offered as version 1.8."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<toolchains>
  <toolchain>
    <type>jdk</type>
    <provides><version>1.8</version></provides>
    <configuration><jdkHome>{home}</jdkHome></configuration>
  </toolchain>
</toolchains>
"""


def m2_files() -> int:
    repo = Path.home() / ".m2" / "repository"
    return sum(len(files) for _, _, files in os.walk(repo)) if repo.exists() else 0


def add_properties(jar: Path, tree: Path, connector: BigQueryConnector) -> None:
    text = (tree / PROPERTIES_TEMPLATE).read_text()
    text = text.replace("${scala.binary.version}", SCALA_BINARY).replace("${project.version}", connector.version)
    with zipfile.ZipFile(jar, "a") as z:
        if PROPERTIES in z.namelist():
            return
        z.writestr(PROPERTIES, text)


def build_from_source(connector: BigQueryConnector, source: Path, target: Path) -> dict:
    """Builds the shaded jar with Maven in a temporary folder; returns the build's figures."""
    mvn = need_tool("mvn", "maven")
    home = java17_home()
    before = m2_files()
    log_path = target.with_name("build.log")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="s8s-connector-build-") as tmp:
        with tarfile.open(source) as tar:
            tar.extractall(tmp, filter="data")
        tree = Path(tmp) / f"spark-bigquery-connector-{connector.version}"
        toolchains = Path(tmp) / "toolchains.xml"
        toolchains.write_text(toolchains_xml(home))
        cmd = [mvn, "-B", "-ntp", "-t", str(toolchains), "-P", f"dsv1_{SCALA_BINARY}", "-pl", f".,{BQ_MODULE}", "-am",
               "-DskipTests", f"-Drevision={connector.version}", "package"]  # fmt: skip
        log(f"building {connector.jar_name} from {source.name} with Maven (log: {log_path})")
        with open(log_path, "w") as out:
            done = subprocess.run(cmd, cwd=tree, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "JAVA_HOME": str(home)})
        built = tree / BQ_MODULE / "target" / connector.jar_name
        if done.returncode != 0 or not built.exists():
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise JarError(f"building the connector failed (exit {done.returncode}); {log_path}:\n{tail}")
        add_properties(built, tree, connector)
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        partial.replace(target)
    return {
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "m2_files_before": before,
        "m2_files_after": m2_files(),
        "jar_sha256": sha256(target),
        "maven_command": " ".join(cmd[1:]),
    }


def bigquery_connector_jar() -> Path:
    """The spark-bigquery connector jar at the pinned version: cached, downloaded or built."""
    connector = bigquery_connector()
    central = pin_for("jar", connector.coordinates)
    if central is not None:
        folder = cache_root() / "spark-bigquery-connector" / central.sha256
        with locked(folder):
            jar = folder / connector.jar_name
            if jar.exists() or maven_copy(connector.coordinates, folder):
                return checked(jar, central.sha256, connector.coordinates)
        log(f"{connector.coordinates} is not served here: building it from source")
    source, key = verified_source(connector)
    folder = cache_root() / "spark-bigquery-connector" / f"src-{key}"
    jar = folder / connector.jar_name
    with locked(folder):
        record = folder / "build.json"
        if jar.exists() and record.exists() and json.loads(record.read_text())["jar_sha256"] == sha256(jar):
            return jar
        figures = build_from_source(connector, source, jar)
        record.write_text(json.dumps(figures, indent=1) + "\n")
        log(f"built {jar} in {figures['seconds']} s (~/.m2 held {figures['m2_files_before']} files before)")
    return jar


def ensure_jars() -> list[Path]:
    """twin_jars(), its failure a TwinError (what the twin's command line and callers report)."""
    from local.twin.emulators import TwinError

    try:
        return twin_jars()
    except JarError as e:
        raise TwinError(str(e)) from e


# The connector asks Google for an access token unless given one; the emulator checks none.
TWIN_ACCESS_TOKEN = "twin-emulator-token"


def spark_conf(state, jars: list[Path]) -> dict[str, str]:
    """Spark settings (for a local.twin TwinState) that send gs:// through the Cloud Storage
    connector to the emulator and load the spark-bigquery connector at the version the batches pin.

    The Cloud Storage connector jar needs Hadoop 3.3.5 or newer (Options.OpenFileOptions) and PyPI's
    PySpark bundles Hadoop 3.3.4, so Hadoop's 3.3.6 client jars go first on the driver's class path
    (spark.driver.extraClassPath is prepended; local mode runs everything in the driver)."""
    return {
        "spark.driver.extraClassPath": os.pathsep.join(str(j) for j in jars),
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "spark.hadoop.fs.gs.storage.root.url": state.gcs_endpoint + "/",
        "spark.hadoop.fs.gs.auth.type": "UNAUTHENTICATED",
        "spark.hadoop.fs.gs.project.id": state.project,
        # Options of every spark-bigquery read and write (SparkBigQueryConfig reads the
        # spark.datasource.bigquery.* settings): a fixed token instead of Google's credentials. The
        # endpoint itself comes from the job (S8S_BIGQUERY_ENDPOINT, bigQueryHttpEndpoint).
        "spark.datasource.bigquery.gcpAccessToken": TWIN_ACCESS_TOKEN,
        "spark.datasource.bigquery.parentProject": state.project,
    }


def twin_jars() -> list[Path]:
    """Every jar the twin's Spark loads: the Hadoop client and Cloud Storage connector jars first,
    then the BigQuery connector."""
    return [*pinned_jars(), bigquery_connector_jar()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Obtain the cloud twin's connector jars and print their paths.")
    p.add_argument("what", choices=["all", "bigquery", "build-info"], nargs="?", default="all")
    a = p.parse_args(argv)
    try:
        if a.what == "bigquery":
            print(bigquery_connector_jar())
        elif a.what == "build-info":
            jar = bigquery_connector_jar()
            record = jar.with_name("build.json")
            print(record.read_text() if record.exists() else json.dumps({"jar": str(jar), "built": False}))
        else:
            for jar in twin_jars():
                print(jar)
    except (JarError, subprocess.CalledProcessError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
