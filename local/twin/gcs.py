"""Objects in the twin's Cloud Storage emulator, through its JSON API (the calls
google-cloud-storage makes): metadata, download, upload. Standard library only.

https://cloud.google.com/storage/docs/json_api/v1/objects
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


class GcsError(Exception):
    pass


def split(uri: str) -> tuple[str, str]:
    """gs://bucket/name -> (bucket, name); GcsError naming the URI otherwise."""
    if not uri.startswith("gs://") or "/" not in uri[5:] or uri.endswith("/"):
        raise GcsError(f"{uri!r} is not a Cloud Storage object URI; expected gs://BUCKET/OBJECT")
    bucket, name = uri[5:].split("/", 1)
    return bucket, name


def _object_url(endpoint: str, bucket: str, name: str) -> str:
    return f"{endpoint}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/{urllib.parse.quote(name, safe='')}"


def stat(endpoint: str, uri: str) -> dict | None:
    """The object's metadata (name, size, md5Hash, crc32c, ...), or None if there is no such object."""
    bucket, name = split(uri)
    try:
        with urllib.request.urlopen(_object_url(endpoint, bucket, name), timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise GcsError(f"GET {uri} answered {e.code}: {e.read().decode(errors='replace')[:300]}") from e


def read(endpoint: str, uri: str) -> bytes:
    bucket, name = split(uri)
    try:
        with urllib.request.urlopen(_object_url(endpoint, bucket, name) + "?alt=media", timeout=60) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise GcsError(f"{uri}: {'no such object' if e.code == 404 else f'download answered {e.code}'}") from e


def download(endpoint: str, uri: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read(endpoint, uri))
    return target


def upload(endpoint: str, uri: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
    """Writes the object (a media upload) and returns its metadata as the emulator stored it."""
    bucket, name = split(uri)
    q = urllib.parse.urlencode({"uploadType": "media", "name": name})
    url = f"{endpoint}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{q}"
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise GcsError(f"upload of {uri} answered {e.code}: {e.read().decode(errors='replace')[:300]}") from e


def md5_base64(data: bytes) -> str:
    """An object's md5Hash as the JSON API reports it: base64 of the MD5 digest."""
    import hashlib

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def delete(endpoint: str, uri: str) -> bool:
    """Deletes the object; False if there was none."""
    bucket, name = split(uri)
    req = urllib.request.Request(_object_url(endpoint, bucket, name), method="DELETE")
    try:
        with urllib.request.urlopen(req, timeout=30):
            return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise GcsError(f"DELETE {uri} answered {e.code}: {e.read().decode(errors='replace')[:300]}") from e
