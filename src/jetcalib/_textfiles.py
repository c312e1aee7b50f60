"""Reading a user's YAML or TOML file (a config, a column map) into plain data, with every way it
can be unusable reported as one :class:`~jetcalib.errors.InputError` line: file, line, problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["read_yaml_or_toml"]


def read_yaml_or_toml(path: Path, what: str, *, yaml_only: bool = False) -> Any:
    """Parse ``path`` as YAML (``.yaml``/``.yml``, or any name with ``yaml_only``) or TOML.

    ``what`` names the file's role in messages ("detector config", "column map").
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: {what} is not a text file (not valid UTF-8)") from None
    yaml_file = yaml_only or path.suffix.lower() in (".yaml", ".yml")
    try:
        if yaml_file:
            import yaml

            try:
                return yaml.safe_load(text)
            except yaml.MarkedYAMLError as exc:
                # PyYAML's message spans several lines with a caret drawing; keep file:line: problem
                mark = exc.problem_mark or exc.context_mark
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                problem = exc.problem or exc.context or "syntax error"
                raise InputError(f"{where}: {what} is not valid YAML ({problem})") from None
            except yaml.YAMLError as exc:
                raise InputError(f"{path}: {what} is not valid YAML ({_first_line(exc)})") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: {what} is not valid TOML ({_first_line(exc)})") from None
    except RecursionError:
        # the parsers recurse once per nesting level: a hostile file nests thousands deep
        raise InputError(f"{path}: {what} is nested too deeply to be read") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
