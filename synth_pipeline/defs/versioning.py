"""Code versions: a hash of the source that computes an asset, so edits mark it stale."""

from __future__ import annotations

import hashlib
import inspect
from types import ModuleType

from synth_pipeline import __version__


def source_version(*parts: ModuleType | str) -> str:
    """Hash of modules' source (or literal strings, such as SQL text or template hashes)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(inspect.getsource(part).encode() if isinstance(part, ModuleType) else part.encode())
    return digest.hexdigest()[:12]


def pipeline_version(code_version: str) -> str:
    """What each row records about the code that made it."""
    return f"synth_pipeline-{__version__}+{code_version}"
