#!/usr/bin/env bash
# `npm run bench -- [--rows N]`: the scoring benchmark on the project's Spark environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env="$("$here/python-env.sh" spark)"
exec "$env/bin/python" "$here/bench_scoring.py" "$@"
