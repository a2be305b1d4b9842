#!/usr/bin/env bash
# `npm run bench -- [--rows N]`: the scoring benchmark on the project's Spark environment, run from
# the repository root as `python -m bench.scoring` with the jobs' folder (pyspark/) on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
env="$(bash scripts/python-env.sh spark)"
PYTHONPATH=pyspark exec "$env/bin/python" -m bench.scoring "$@"
