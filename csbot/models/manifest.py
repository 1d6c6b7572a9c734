"""Checksum manifests for prepared model directories: what was built, from what, and is it intact."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from pydantic import BaseModel, Field

MANIFEST_NAME = "manifest.json"
_CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class SourceRef(BaseModel):
    """A file inside a PyPI package that a prepared model was built from."""

    package: str
    path: str
    sha256: str
    licence: str = ""


class Manifest(BaseModel):
    """Written last into a prepared model directory; its presence means the directory is complete."""

    name: str
    kind: str  # "converted" (weights written here) | "pointer" (weights read in place from a package)
    builder: str  # builder id + version: a change of converter invalidates old outputs
    sources: list[SourceRef]
    #: sha256 of each written file, relative to the directory
    files: dict[str, str] = Field(default_factory=dict)
    #: for pointer builds of GGUF weights: the file name inside the directory (transformers' gguf_file)
    gguf: str | None = None
    created_at: float = Field(default_factory=time.time)
    extra: dict[str, str | int | float] = Field(default_factory=dict)

    @property
    def version(self) -> str:
        """Short, stable id of what is served: the name plus a hash of the written files and sources."""
        h = hashlib.sha256()
        for rel in sorted(self.files):
            h.update(f"{rel}={self.files[rel]}\n".encode())
        for src in self.sources:
            h.update(f"src={src.sha256}\n".encode())
        return f"{self.name}-{h.hexdigest()[:12]}"

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
        return path


def read_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError):
        return None


def problems(directory: Path, manifest: Manifest | None, builder: str, sources: dict[str, Path]) -> list[str]:
    """Why `directory` does not hold a valid build (empty list = valid). Hashes every file.

    Args:
        directory: the prepared model directory.
        manifest: its manifest (None when missing or unreadable).
        builder: the builder id that the current code would write.
        sources: package file name -> current path of that source file.
    """
    if manifest is None:
        return ["no manifest"]
    issues: list[str] = []
    if manifest.builder != builder:
        issues.append(f"built by {manifest.builder}, current builder is {builder}")
    recorded = {s.package: s for s in manifest.sources}
    for package, path in sources.items():
        ref = recorded.get(package)
        if ref is None:
            issues.append(f"source {package} not recorded")
        elif sha256_file(path) != ref.sha256:
            issues.append(f"source {package} changed (checksum differs)")
    for rel, digest in manifest.files.items():
        file = directory / rel
        if not file.is_file():
            issues.append(f"{rel} missing")
        elif sha256_file(file) != digest:
            issues.append(f"{rel} corrupted (checksum differs)")
    return issues
