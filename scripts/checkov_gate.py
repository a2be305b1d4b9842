"""Runs Checkov over the synthesized stack and fails on any check that is not suppressed in code.

Checkov's terraform_json scanner ignores inline skip comments, so suppressions live next to the
resource in lib/ (lib/policy.ts suppressCheck) and reach the synthesized JSON under the
resource's "//" key. A failed check passes this gate only when its resource carries a
suppression with a reason for exactly that check id. Prints passed/failed/suppressed counts.

    python scripts/checkov_gate.py cdktf.out/stacks/s8s-scoring-lab/cdk.tf.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def suppressions(stack: dict) -> dict[tuple[str, str], str]:
    """(resource name, check id) -> reason, from every resource's "//" block.

    Checkov's terraform_json results name a resource without its type; CDKTF's logical ids are
    unique within a stack, so the name alone identifies it."""
    found = {}
    for resources in stack.get("resource", {}).values():
        for name, body in resources.items():
            for skip in body.get("//", {}).get("checkov", {}).get("skip", []):
                found[(name, skip["id"])] = skip["comment"]
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    stack_file = Path(argv[0])
    stack = json.loads(stack_file.read_text())
    checkov = Path(sys.executable).with_name("checkov")
    result = subprocess.run(
        [str(checkov), "-f", str(stack_file), "--framework", "terraform_json", "-o", "json", "--quiet", "--compact"],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        print(result.stdout[-3000:] + result.stderr[-3000:], file=sys.stderr)
        print(f"checkov did not run (exit {result.returncode})", file=sys.stderr)
        return 2
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    passed = failed = 0
    allowed = suppressions(stack)
    used: set[tuple[str, str]] = set()
    problems = []
    for r in reports:
        passed += r["summary"]["passed"]
        for check in r["results"].get("failed_checks", []):
            key = (check["resource"].removeprefix("resource."), check["check_id"])
            if key in allowed:
                used.add(key)
            else:
                failed += 1
                problems.append(f"FAILED {check['check_id']} {check['check_name']!r} on {key[0]}")
    for key in sorted(used):
        print(f"suppressed {key[1]} on {key[0]}: {allowed[key]}")
    for p in problems:
        print(p)
    stale = sorted(set(allowed) - used)
    for key in stale:
        print(f"STALE suppression {key[1]} on {key[0]}: the check no longer fails; remove it")
    print(
        f"checkov {reports[0].get('summary', {}).get('checkov_version', '')}: "
        f"passed {passed}, failed {failed}, suppressed in code {len(used)}"
    )
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
