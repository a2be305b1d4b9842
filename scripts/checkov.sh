#!/usr/bin/env bash
# `npm run test:policy`: synthesizes the stack (default configuration) and gates it with Checkov.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
env="$("$here/python-env.sh" checkov)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$repo"
CHECKPOINT_DISABLE=1 npx cdktf synth --output "$out" > "$out/synth.log" 2>&1 || { cat "$out/synth.log"; exit 1; }
"$env/bin/python" "$here/checkov_gate.py" "$out/stacks/s8s-scoring-lab/cdk.tf.json"
