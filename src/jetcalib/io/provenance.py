"""The environment record every artifact jetcalib writes carries (issue #14): Python and package
versions, the command line and the git commit of the jetcalib source; and the content hash of
an input file.

The record describes *how* an artifact was made, not *what* it is: it is never part of an
artifact's content hash (the same weights trained on another machine, or with another numpy,
are the same model; a hash that changed with the machine would make every re-export and every
comparison of two runs a "mismatch"). Artifacts from before the record have none (``None``)
and load as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata as _md
from pathlib import Path
from typing import Any

from .._version import __version__

__all__ = ["RECORD_VERSION", "command_line", "current_command_line", "environment", "file_sha256", "git_commit",
           "hash_input_files", "package_versions"]

#: Version of the layout of :func:`environment`'s dict (a new key: minor; renamed: major).
RECORD_VERSION = "1"

#: Packages recorded when the caller names none: what every jetcalib artifact depends on.
BASE_PACKAGES: tuple[str, ...] = ("numpy",)

#: The command line of the running CLI command (set by :func:`jetcalib.cli.main`); None when
#: jetcalib is used as a library.
_COMMAND_LINE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "jetcalib_command_line", default=None)


@contextlib.contextmanager
def command_line(argv: Iterable[str]) -> Iterator[None]:
    """Record ``argv`` as the command line of the artifacts written inside the block."""
    token = _COMMAND_LINE.set([str(a) for a in argv])
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def current_command_line() -> list[str] | None:
    """The command line recorded now (:func:`command_line`), None outside the CLI."""
    argv = _COMMAND_LINE.get()
    return None if argv is None else list(argv)


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """``{name: installed version}`` from the distributions' metadata (nothing is imported: a
    record must not cost a torch import); None for a package that is not installed."""
    out: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
        except Exception:  # noqa: BLE001 -- a broken distribution's metadata: record, never fail
            out[name] = None
    return out


def _source_root() -> Path | None:
    """The checkout holding this jetcalib source (``ROOT/src/jetcalib`` or ``ROOT/jetcalib``),
    None for an installed copy: a site-packages inside some other repository (a virtual
    environment in a checkout) must not be credited with that repository's commit."""
    pkg = Path(__file__).resolve().parent.parent
    if "site-packages" in pkg.parts or "dist-packages" in pkg.parts:
        return None
    for root in (pkg.parent.parent, pkg.parent) if pkg.parent.name == "src" else (pkg.parent,):
        if (root / ".git").exists():
            return root
    return None


def _git_dir(root: Path) -> Path | None:
    dot = root / ".git"
    if dot.is_dir():
        return dot
    # a worktree or submodule: ".git" is a file "gitdir: <path>"
    text = dot.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gd = Path(text[len("gitdir:"):].strip())
    return gd if gd.is_absolute() else (root / gd).resolve()


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _read_ref(git_dir: Path, ref: str) -> str | None:
    """A ref's commit from the loose ref or ``packed-refs``, in the worktree's own git dir and
    then in the common one (worktrees share refs/heads)."""
    dirs = [git_dir]
    common = git_dir / "commondir"
    if common.is_file():
        c = Path(common.read_text().strip())
        dirs.append(c if c.is_absolute() else (git_dir / c).resolve())
    for d in dirs:
        loose = d / ref
        if loose.is_file():
            sha = loose.read_text().strip()
            if _is_sha(sha):
                return sha
        packed = d / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _is_sha(parts[0]):
                    return parts[0]
    return None


def _head_from_files(root: Path) -> str | None:
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    head = (git_dir / "HEAD").read_text().strip()
    if _is_sha(head):  # detached
        return head
    if head.startswith("ref:"):
        return _read_ref(git_dir, head[4:].strip())
    return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit checked out in the git checkout this jetcalib runs from: read from
    ``.git/HEAD`` and the refs, else ``git rev-parse HEAD`` (5 s at most); None when jetcalib
    is not a checkout or nothing can tell. Never raises. (Uncommitted changes are not seen.)"""
    try:
        root = _source_root()
        if root is None:
            return None
        try:
            sha = _head_from_files(root)
        except (OSError, UnicodeDecodeError):
            sha = None
        if sha is not None:
            return sha
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=5, check=False, stdin=subprocess.DEVNULL)
        sha = done.stdout.strip()
        return sha if done.returncode == 0 and _is_sha(sha) else None
    except Exception:  # noqa: BLE001 -- no git, a timeout, an unreadable file: the record just says None
        return None


def environment(packages: Iterable[str] = ()) -> dict[str, Any]:
    """The environment record of an artifact written now: ``record_version``, ``python`` (the
    version), ``platform``, ``jetcalib`` (version), ``packages`` (``{name: version}`` of numpy
    and ``packages``, from importlib.metadata), ``command_line`` (the CLI's argv, None from the
    API) and ``git_commit`` (:func:`git_commit`). JSON-able; never raises."""
    argv = _COMMAND_LINE.get()
    return {
        "record_version": RECORD_VERSION,
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "jetcalib": __version__,
        "packages": package_versions([*BASE_PACKAGES, *packages]),
        "command_line": None if argv is None else list(argv),
        "git_commit": git_commit(),
    }


def file_sha256(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks (memory does not grow with the file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return "sha256:" + h.hexdigest()


def hash_input_files(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of provenance entries (``{"path": ..., ...}``, one per input table) with the
    ``sha256`` of each file added where it is missing and the file can be read (an entry
    without a readable file is kept as it is: a record never fails a fit)."""
    out = []
    for entry in entries:
        entry = dict(entry)
        path = entry.get("path")
        if "sha256" not in entry and isinstance(path, str | os.PathLike) and Path(path).is_file():
            try:
                entry["sha256"] = file_sha256(path)
            except OSError:
                pass
        out.append(entry)
    return out
