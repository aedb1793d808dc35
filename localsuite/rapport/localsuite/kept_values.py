"""Values `make run` keeps in its data folder so that they hold from one run to the next.

A value set in the environment wins; otherwise the one kept in the file is used, and
the first run makes one and keeps it (readable by the owner only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Kept:
    value: str
    # Where the value comes from, for the banner.
    origin: str


def kept_value(
    path: Path, make: Callable[[], str], *, variable: str, environ: Mapping[str, str]
) -> Kept:
    """The value `variable` sets, else the one kept in `path`, else a new one kept there."""
    if value := environ.get(variable, "").strip():
        return Kept(value, f"set by {variable}")
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if value:
        return Kept(value, f"from {path}")
    value = make()
    _write_owner_only(path, value)
    return Kept(value, f"made now, kept in {path}")


def _write_owner_only(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a run stopped halfway never leaves half a value.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.unlink(missing_ok=True)
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(value + "\n")
    os.replace(draft, path)
