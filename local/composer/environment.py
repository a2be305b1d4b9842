"""What the local Airflow takes from the twin: the Composer environment the stack synthesizes.

One source: the synthesized stack the twin was deployed from (the twin's stack.json). From its
`google_composer_environment` come the Composer bucket (its `dags/` folder is the DAG folder), the
whole `software_config` and the image, which names the Airflow line and so the locked environment.
Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from local.composer.airflow import AirflowError

REPO = Path(__file__).resolve().parents[2]


def _twin():
    # Imported late: the twin module is found under scripts/ until the restructure moves it.
    import importlib
    import sys

    for folder in (REPO / "local" / "twin", REPO / "scripts"):
        if (folder / "emulators.py").exists() or (folder / "twin.py").exists():
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("local.twin.emulators")
    except ImportError:
        return importlib.import_module("twin")


def composer_environment(state_dir: Path) -> dict:
    """The stack's one google_composer_environment, its references resolved as Terraform would."""
    twin = _twin()
    stack = twin.TwinState.load(Path(state_dir)).stack()
    envs = list(stack["resources"].get("google_composer_environment", {}).values())
    if len(envs) != 1:
        raise AirflowError(f"the synthesized stack in {state_dir} holds {len(envs)} Composer environments; expected exactly 1")
    return envs[0]


def software_config(state_dir: Path) -> dict:
    return composer_environment(state_dir)["config"]["software_config"]


def dags_folder(state_dir: Path) -> Path:
    """The twin's Composer bucket `dags/` folder (the Cloud Storage emulator keeps gs://b/o as gcs/b/o)."""
    twin = _twin()
    state = twin.TwinState.load(Path(state_dir))
    bucket = composer_environment(state_dir)["storage_config"]["bucket"]
    return Path(state.gcs_root) / bucket / "dags"


def env_name_for(image_version: str) -> str:
    """The locked environment of the Airflow line an image belongs to (airflow/composer_images.json)."""
    images = json.loads((REPO / "airflow" / "composer_images.json").read_text())
    alias = re.sub(r"-build\.\d+$", "", image_version)
    for line in images["lines"]:
        if line["image"] == alias:
            return line["testEnv"]
    known = ", ".join(line["image"] for line in images["lines"])
    raise AirflowError(f"software_config.image_version {image_version!r} is not a line of airflow/composer_images.json ({known})")


def client_env(state_dir: Path) -> dict[str, str]:
    """Points the Google clients of every Airflow process at the twin: Cloud Storage and BigQuery
    through their emulator variables, the google_cloud_default connection anonymous (the provider
    accepts is_anonymous) with the twin's project."""
    twin = _twin()
    state = twin.TwinState.load(Path(state_dir))
    conn = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": state.project}}
    return {**state.client_env(), "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(conn)}
