"""Files of ``config/`` that ship with the package (the wheel carries copies)."""

from __future__ import annotations

from pathlib import Path


def shipped_config(name: str) -> Path:
    """A file of ``config/``: the repository's copy, else the one in the wheel."""
    repo_copy = Path(__file__).resolve().parent.parent / "config" / name
    if repo_copy.is_file():
        return repo_copy
    return Path(__file__).resolve().parent / name
