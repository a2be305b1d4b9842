"""python -m local.twin deploy STATE_DIR   deploy the synthesized stack into the twin, starting its
                                         emulators first if they do not run (local/twin/deploy.py)
python -m local.twin up|down|jars [STATE_DIR]   start (and deploy) or stop the emulators (local/twin/emulators.py)

Run from the repository root with any Python 3.11+: the emulators run in the twin environment,
which scripts/python-env.sh creates on first use."""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path


def _running(root: Path) -> bool:
    from local.twin.emulators import TwinError, TwinState

    try:
        state = TwinState.load(root)
    except TwinError:
        return False
    try:
        with urllib.request.urlopen(f"{state.gcs_endpoint}/storage/v1/b?project={state.project}", timeout=2):
            return True
    except OSError:
        return False


def deploy_command(root: Path) -> int:
    from local.twin import deploy, emulators

    root = root.resolve()
    if not _running(root):
        print(f"starting the twin's emulators in {root}", file=sys.stderr)
        emulators.up(root)
    report = deploy.deploy(root)
    for obj in report["objects"]:
        print(f"{obj.action:9} {obj.uri} ({obj.size} bytes)")
    counts = {a: sum(1 for o in report["objects"] if o.action == a) for a in ("uploaded", "unchanged", "deleted")}
    print(", ".join(f"{n} {a}" for a, n in counts.items()) + " objects")
    for name, path in report["files"].items():
        print(f"{name:9} {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["deploy"]:
        from local.twin import emulators

        return emulators.main(argv)
    p = argparse.ArgumentParser(
        prog="python -m local.twin deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("state_dir", type=Path)
    a = p.parse_args(argv[1:])
    from local.twin.emulators import TwinError

    try:
        return deploy_command(a.state_dir)
    except (TwinError, OSError, ValueError) as e:
        print(f"ERROR: deploy into the twin failed: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
