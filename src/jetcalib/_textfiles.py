"""Reading a user's YAML or TOML file (a config, a column map) into plain data, with every way it
can be unusable reported as one :class:`~jetcalib.errors.InputError` line: file, line, problem;
and writing a config as YAML with each key's description as a comment (``--dump-config``)."""

from __future__ import annotations

import functools
import inspect
import io
import textwrap
import tokenize
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["commented_yaml", "read_yaml_or_toml"]


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


#: columns of a ``--dump-config`` comment line (the indentation included)
_COMMENT_WIDTH = 96


def commented_yaml(model: BaseModel, header: str | None = None) -> str:
    """``model`` as YAML, each key preceded by its description as ``# ...`` lines; loading the
    text back gives the same data as ``model.model_dump(mode="json")``.

    A field's description is its ``Field(description=...)``, else its Sphinx attribute comment
    in the source (``#:`` lines above the field or at the end of its line: the style of
    :mod:`jetcalib.sim.config`), else, for a section (a nested model), the first line of that
    model's docstring. ``header``: comment lines put first.
    """
    out = [f"# {part}" for line in (header or "").splitlines()
           for part in textwrap.wrap(line, _COMMENT_WIDTH - 2)]
    _write_model(model, model.model_dump(mode="json"), 0, out)
    return "\n".join(out) + "\n"


def _write_model(model: BaseModel, data: dict[str, Any], depth: int, out: list[str]) -> None:
    from pydantic import BaseModel

    cls = type(model)
    comments = _attribute_comments(cls)
    indent = "  " * depth
    for name, info in cls.model_fields.items():
        key = info.alias or name
        value = getattr(model, name)
        text = info.description or comments.get(name)
        if text is None and isinstance(value, BaseModel):
            text = (inspect.getdoc(type(value)) or "").split("\n\n")[0] or None
        if text:
            for line in textwrap.wrap(" ".join(text.split()), _COMMENT_WIDTH - len(indent) - 2):
                out.append(f"{indent}# {line}")
        if isinstance(value, BaseModel):
            out.append(f"{indent}{key}:")
            _write_model(value, data[key], depth + 1, out)
        else:
            out.append(f"{indent}{key}: {_flow(data[key])}")


def _flow(value: Any) -> str:
    """One value as YAML on one line (lists in flow style)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


@functools.cache
def _attribute_comments(cls: type) -> dict[str, str]:
    """``{field: text}`` of the ``#:`` comments of a class body (above a field, or at the end
    of its last line); empty when the source is not available."""
    import ast

    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines: dict[int, str] = {}  # line number -> text of a #: comment
    trailing: set[int] = set()  # ... that follows code on its line
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and tok.string.startswith("#:"):
                lines[tok.start[0]] = tok.string[2:].strip()
                if tok.line[: tok.start[1]].strip():
                    trailing.add(tok.start[0])
        body = ast.parse(source).body[0]
    except (SyntaxError, tokenize.TokenError):
        return {}
    found: dict[str, str] = {}
    for stmt in getattr(body, "body", []):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above: list[str] = []
        n = stmt.lineno - 1
        while n in lines and n not in trailing:
            above.insert(0, lines[n])
            n -= 1
        end = stmt.end_lineno or stmt.lineno
        parts = above + ([lines[end]] if end in trailing else [])
        if parts:
            found[stmt.target.id] = " ".join(parts)
    return found
