"""The cloud twin: the Cloud Storage and BigQuery emulators (emulators.py) holding what the stack
synthesizes (deploy.py, stack.ts), and the SQL the lab ships, run against them (sql.py)."""

from local.twin.deploy import bucket, external_tables, load_model_versions, synthesized_stack
from local.twin.emulators import PROJECT, REPO, TwinError, TwinState, down, memory_mib, python_env, up, upload

__all__ = [
    "PROJECT",
    "REPO",
    "TwinError",
    "TwinState",
    "bucket",
    "down",
    "external_tables",
    "load_model_versions",
    "memory_mib",
    "python_env",
    "synthesized_stack",
    "up",
    "upload",
]
