#!/usr/bin/env bash
# `npm run local`: prepares the Spark environment on first use, then runs the lab locally.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env="$("$here/python-env.sh" spark)"
exec "$env/bin/python" "$here/local_lab.py" "$@"
