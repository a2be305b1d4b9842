"""Entry point of the training job: the file a Dataproc Serverless batch runs (main_python_file_uri).

    model_training.py --input gs://.../training.csv --models-root gs://.../churn-model [--model-version V]

The job itself is s8s_churn/training.py; the batch gets the package through python_file_uris.
"""

from __future__ import annotations

import sys

from s8s_churn import training
from s8s_churn.job import run_main


def main(argv: list[str] | None = None) -> int:
    return training.main(argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
