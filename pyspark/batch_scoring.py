"""Entry point of the scoring job: the file a Dataproc Serverless batch runs (main_python_file_uri).

    batch_scoring.py --pipeline-id ID --model-version latest --input gs://.../scoring.csv
        --models-root gs://.../churn-model --sink bigquery --project P --dataset customer_churn_ds
        --temp-bucket B --batch-id BATCH
    batch_scoring.py --pipeline-id ID --input pyspark/data/scoring.csv --models-root DIR --sink local --output DIR

The job itself is s8s_churn/scoring.py; the batch gets the package through python_file_uris.
"""

from __future__ import annotations

import sys

from s8s_churn import scoring
from s8s_churn.job import run_main


def main(argv: list[str] | None = None) -> int:
    return scoring.main(argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
