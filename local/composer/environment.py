"""What the local Airflow takes from the twin: the Composer environment the stack was deployed as.

The deploy into the twin (local/twin/deploy.py) records the stack's google_composer_environment in
STATE_DIR/composer/environment.json (local/twin/settings.py): its image, its whole software_config
and its DAG folder gs://<environment bucket>/dags. Everything here is read from that record, so the
local Airflow applies the stack's values and keeps no copy of its own. Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from local.composer.airflow import AirflowError

REPO = Path(__file__).resolve().parents[2]


def record(state_dir: Path) -> dict:
    path = Path(state_dir) / "composer" / "environment.json"
    if not path.exists():
        raise AirflowError(f"{path} does not exist: deploy the stack into the twin first (npm run local does)")
    return json.loads(path.read_text())


def software_config(state_dir: Path) -> dict:
    return record(state_dir)["software_config"]


def dags_folder(state_dir: Path) -> Path:
    """The Composer bucket's dags/ folder as a local path: the Cloud Storage emulator's filesystem
    backend keeps gs://b/o as STATE_DIR/gcs/b/o (twin.json gcs_root)."""
    uri = record(state_dir)["dags_folder"]
    if not uri or not uri.startswith("gs://"):
        raise AirflowError(f"the Composer environment's dags_folder is {uri!r}; expected gs://<bucket>/dags")
    gcs_root = json.loads((Path(state_dir) / "twin.json").read_text())["gcs_root"]
    return Path(gcs_root) / uri.removeprefix("gs://")


def env_name(state_dir: Path) -> str:
    """The locked environment of the Airflow line the stack deploys: its software_config.image_version
    (with or without -build.N) looked up in airflow/composer_images.json."""
    image = software_config(state_dir).get("image_version", "")
    images = json.loads((REPO / "airflow" / "composer_images.json").read_text())
    alias = re.sub(r"-build\.\d+$", "", image)
    for line in images["lines"]:
        if line["image"] == alias:
            return line["testEnv"]
    known = ", ".join(line["image"] for line in images["lines"])
    raise AirflowError(f"software_config.image_version {image!r} is not a line of airflow/composer_images.json ({known})")
