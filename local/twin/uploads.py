"""Every google_storage_bucket_object of the synthesized stack, written into the Cloud Storage
emulator with the bytes its `source` names, as `cdktf deploy` (Terraform) writes them.

- `source` is relative to the folder Terraform runs in, cdktf.out/stacks/<stack>/, where
  `cdktf synth` copied each TerraformAsset (assets/<id>/<hash>/<file>): the bytes read are the
  synthesized copy, not the repository file. An object with inline `content` gets that text.
- An object whose bytes are already there (same MD5, as the JSON API's md5Hash reports it, and same
  CRC32C when the emulator reports one) is left alone, so a re-deploy of unchanged code uploads
  nothing. Terraform replaces an object when its source's hash changes; the asset hash in the path
  already does that in the cloud.
- Objects an earlier deploy wrote that the stack no longer declares are deleted, as Terraform
  destroys a resource removed from the configuration. The twin's record of what it deployed:
  STATE_DIR/deployed-objects.json (Terraform's state plays that part in the cloud).
Standard library only.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from local.twin import gcs

RECORD = "deployed-objects.json"


@dataclass(frozen=True)
class Deployed:
    uri: str
    action: str  # "uploaded", "unchanged" or "deleted"
    size: int


def _table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
        table.append(crc)
    return table


_CRC32C_TABLE = _table()


def crc32c(data: bytes) -> str:
    """CRC32C (Castagnoli) of the bytes, base64 of its big-endian value as the JSON API reports it."""
    crc, table = 0xFFFFFFFF, _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return base64.b64encode(struct.pack(">I", crc ^ 0xFFFFFFFF)).decode()


def object_bytes(obj: dict, workdir: Path) -> bytes:
    if "source" in obj:
        path = Path(workdir) / obj["source"]
        if not path.is_file():
            raise FileNotFoundError(
                f"google_storage_bucket_object {obj['name']!r}: source {obj['source']!r} is not in {workdir} (synthesize again)"
            )
        return path.read_bytes()
    if "content" in obj:
        return obj["content"].encode()
    raise ValueError(f"google_storage_bucket_object {obj['name']!r} has neither source nor content")


def deploy_objects(state_dir: Path, endpoint: str, stack: dict) -> list[Deployed]:
    """Writes the stack's objects (references resolved) into the emulator; what each became."""
    workdir = Path(stack["workdir"])
    done, wanted = [], set()
    for obj in sorted(
        stack["resources"].get("google_storage_bucket_object", {}).values(), key=lambda o: (o["bucket"], o["name"])
    ):
        uri = f"gs://{obj['bucket']}/{obj['name']}"
        wanted.add(uri)
        data = object_bytes(obj, workdir)
        there = gcs.stat(endpoint, uri)
        same = there is not None and there.get("md5Hash") == gcs.md5_base64(data)
        if same and there.get("crc32c"):
            same = there["crc32c"] == crc32c(data)
        if not same:
            gcs.upload(endpoint, uri, data, obj.get("content_type", "application/octet-stream"))
        done.append(Deployed(uri, "unchanged" if same else "uploaded", len(data)))
    record = Path(state_dir) / RECORD
    earlier = set(json.loads(record.read_text())) if record.exists() else set()
    for uri in sorted(earlier - wanted):
        if gcs.delete(endpoint, uri):
            done.append(Deployed(uri, "deleted", 0))
    record.write_text(json.dumps(sorted(wanted), indent=1))
    return done


def recorded(state_dir: Path) -> list[Deployed]:
    """The objects the last deploy wrote (their URIs), from the twin's record."""
    record = Path(state_dir) / RECORD
    return [Deployed(uri, "recorded", 0) for uri in (json.loads(record.read_text()) if record.exists() else [])]
