#!/usr/bin/env bash
# `npm run local`: prepares the Spark environment (and, unless --sink local, the cloud twin's
# environment and jars) on first use, then runs the lab locally (scripts/local_lab.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env="$("$here/python-env.sh" spark)"
case " $* " in
  *" --sink local "* | *" --sink=local "*) ;;
  *)
    "$here/python-env.sh" twin >/dev/null
    "$env/bin/python" "$here/twin.py" jars >/dev/null
    ;;
esac
exec "$env/bin/python" "$here/local_lab.py" "$@"
