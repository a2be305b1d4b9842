"""The stack's settings that are no object in an emulator, saved in the twin's state folder for
the parts that apply them. Written by the deploy (local/twin/deploy.py) from the synthesized stack
(references resolved), so each is the stack's own value, never a second copy:

- STATE_DIR/composer/environment.json: the Composer environment's name, image and its whole
  config.software_config (env_variables with the AIRFLOW_VAR_* Airflow variables,
  airflow_config_overrides, and whatever else the stack sets), plus the DAG folder it reads
  (gs://<environment bucket>/dags). The local Airflow (local/composer) applies it.
- STATE_DIR/history/server.json: the Persistent History Server's cluster, image, and the event-log
  location it reads in the cloud (spark.history.fs.logDirectory, gs://<phs bucket>/*/spark-job-history),
  with the one folder the twin's batches write their event logs to (local/dataproc/runner.py
  HISTORY_DIR) and the local history server reads.
- STATE_DIR/dataproc/project.json: what the Dataproc twin checks a batch against (local/dataproc/project.py).
Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from local.dataproc.project import DEFAULT_CPUS_QUOTA, from_stack
from local.dataproc.runner import HISTORY_DIR

# The twin project's regional CPUS limit can be set at deploy (e.g. 8, a free-trial project's).
CPUS_QUOTA_ENV = "S8S_TWIN_CPUS_QUOTA"


def _write(path: Path, value: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, sort_keys=True))
    return path


def composer_environment(stack: dict) -> dict:
    envs = list(stack["resources"].get("google_composer_environment", {}).values())
    if len(envs) != 1:
        raise ValueError(f"expected one google_composer_environment in the stack, found {len(envs)}")
    env = envs[0]
    config = env["config"]
    bucket = env.get("storage_config", {}).get("bucket")
    return {
        "name": env["name"],
        "project": env.get("project"),
        "region": env.get("region"),
        "labels": env.get("labels", {}),
        # The whole software_config as synthesized: image_version, env_variables, airflow_config_overrides, ...
        "software_config": config.get("software_config", {}),
        "bucket": bucket,
        # Composer reads DAGs from the dags/ folder of its bucket (storage_config.bucket).
        "dags_folder": f"gs://{bucket}/dags" if bucket else None,
    }


def history_server(stack: dict, state_dir: Path) -> dict:
    clusters = list(stack["resources"].get("google_dataproc_cluster", {}).values())
    if len(clusters) != 1:
        raise ValueError(f"expected one google_dataproc_cluster (the history server) in the stack, found {len(clusters)}")
    c = clusters[0]
    software = c["cluster_config"].get("software_config", {})
    props = software.get("override_properties", {})
    cloud = props.get("spark:spark.history.fs.logDirectory")
    if not cloud:
        raise ValueError(f"the history server {c['name']!r} sets no spark:spark.history.fs.logDirectory")
    return {
        "cluster": f"projects/{c.get('project')}/regions/{c['region']}/clusters/{c['name']}",
        "image_version": software.get("image_version"),
        "cloud_log_directory": cloud,
        "log_directory": str((Path(state_dir) / HISTORY_DIR).resolve()),
        "properties": props,
    }


def save(stack: dict, state_dir: Path) -> dict[str, Path]:
    """Writes the three files; their paths by name."""
    state_dir = Path(state_dir)
    history = history_server(stack, state_dir)
    Path(history["log_directory"]).mkdir(parents=True, exist_ok=True)
    quota = int(os.environ.get(CPUS_QUOTA_ENV) or DEFAULT_CPUS_QUOTA)
    project = from_stack(stack, quota)
    project.save(state_dir)
    return {
        "composer": _write(state_dir / "composer" / "environment.json", composer_environment(stack)),
        "history": _write(state_dir / "history" / "server.json", history),
        "dataproc": project.path(state_dir),
    }
