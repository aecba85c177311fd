"""Fingerprinted static files: ``css/shop.css`` is served as ``css/shop.<hash12>.css``.

``flask holdfast build-static`` (``build``) writes a copy of each file in ``app/static`` under a
name carrying the first 12 hex digits of its SHA-256, and ``manifest.json`` mapping each name
to its copy. When the manifest exists, ``url_for("static", filename="css/shop.css")`` (in
templates and in code) gives the fingerprinted name, and both nginx and Flask answer those names
with a year-long, immutable ``Cache-Control``: a new deploy changes the name, never the file
behind a name. Without a build (``make run``, the test suite) nothing changes.

The manifest is read once, when the app is created: a deploy builds, then restarts gunicorn.
The copies and the manifest are build output (gitignored); ``build(..., clean=True)`` removes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, request

log = logging.getLogger("holdfast.static_assets")

MANIFEST = "manifest.json"
EXTENSION = "holdfast.static_manifest"
HASH_LENGTH = 12
# A fingerprinted name: ``<stem>.<12 hex>.<ext>``. nginx/holdfast.conf matches the same shape.
FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
# What a year-long, never-revalidated cache says (nginx sends the same for these names).
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class BuildReport:
    manifest: Path
    files: dict[str, str]  # original name -> fingerprinted name, relative to the static folder
    written: int  # copies written by this build (the others were there already)
    removed: int  # stale copies (of an older content) and, with ``clean``, all of them


def fingerprinted_name(name: str, content: bytes) -> str | None:
    """``css/shop.css`` -> ``css/shop.<hash12>.css``; None for a name without an extension."""
    path = Path(name)
    if not path.suffix or not path.stem:
        return None
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def is_fingerprinted(name: str) -> bool:
    return FINGERPRINTED.match(Path(name).name) is not None


def _originals(static_dir: Path) -> list[Path]:
    """Every file a page may link: not the manifest, our copies, or hidden files."""
    found = []
    for path in sorted(static_dir.rglob("*")):
        relative = path.relative_to(static_dir)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if relative.as_posix() == MANIFEST or is_fingerprinted(path.name):
            continue
        found.append(path)
    return found


def _write_atomically(target: Path, content: bytes) -> None:
    """Readers (nginx, gunicorn) never see half a file."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".build-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stale_copies(static_dir: Path, files: dict[str, str]) -> list[Path]:
    """Copies of a file in ``files`` under an older hash (every copy when ``files`` is empty)."""
    current = set(files.values())
    stale = []
    for path in static_dir.rglob("*"):
        match = FINGERPRINTED.match(path.name)
        if not match or not path.is_file():
            continue
        original = path.with_name(match["stem"] + match["suffix"])
        relative = path.relative_to(static_dir).as_posix()
        if original.exists() and relative not in current:
            stale.append(path)
    return stale


def build(static_dir: str | Path, clean: bool = False) -> BuildReport:
    """Write the fingerprinted copies and the manifest (or, with ``clean``, remove them all)."""
    static_dir = Path(static_dir)
    manifest = static_dir / MANIFEST
    files: dict[str, str] = {}
    written = 0
    if not clean:
        for path in _originals(static_dir):
            content = path.read_bytes()
            name = fingerprinted_name(path.relative_to(static_dir).as_posix(), content)
            if name is None:
                continue
            files[path.relative_to(static_dir).as_posix()] = name
            if not (static_dir / name).exists():
                _write_atomically(static_dir / name, content)
                written += 1
    stale = _stale_copies(static_dir, files)
    for path in stale:
        path.unlink()
    if clean:
        manifest.unlink(missing_ok=True)
    else:
        _write_atomically(manifest, (json.dumps(files, indent=2, sort_keys=True) + "\n").encode())
    return BuildReport(manifest=manifest, files=files, written=written, removed=len(stale))


def load_manifest(static_dir: str | Path) -> dict[str, str]:
    """The manifest's names whose copy exists; {} without a build (or with a broken one)."""
    static_dir = Path(static_dir)
    try:
        files = json.loads((static_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("static manifest ignored (%s): %s", static_dir / MANIFEST, exc)
        return {}
    if not isinstance(files, dict):
        log.warning("static manifest ignored (%s): not a JSON object", static_dir / MANIFEST)
        return {}
    present = {
        str(name): str(copy)
        for name, copy in files.items()
        if is_fingerprinted(str(copy)) and (static_dir / str(copy)).is_file()
    }
    if len(present) < len(files):
        log.warning("static manifest: %d copies are missing", len(files) - len(present))
    return present


def install(app: Flask) -> None:
    """With a build, ``url_for("static", ...)`` names the fingerprinted copy, and Flask serves
    those copies as immutable (as nginx does when it serves them itself)."""
    manifest = load_manifest(app.static_folder) if app.static_folder else {}
    app.extensions[EXTENSION] = manifest
    if not manifest:
        return
    copies = frozenset(manifest.values())

    @app.url_defaults
    def fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]

    @app.after_request
    def cache_fingerprinted(response):
        filename = (request.view_args or {}).get("filename")
        if request.endpoint == "static" and response.status_code < 400 and filename in copies:
            response.headers["Cache-Control"] = IMMUTABLE
        return response
