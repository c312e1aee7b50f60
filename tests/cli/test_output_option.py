"""One spelling for the output of every command: ``-o/--out`` (documented); an old spelling
(``numerical fit --output``) still works for one release, hidden from the help."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import make_jet_table, run

from jetcalib.io import write_table

#: every command that writes something
WRITERS = [["generate"], ["numerical", "fit"], ["train"], ["calibrate"], ["evaluate"],
           ["export"], ["demo"]]

#: hidden old spellings of -o/--out, kept for one release
OLD_SPELLINGS = {("numerical", "fit"): ["--output"]}


def _command(path: list[str]):
    import typer.main

    from jetcalib.cli import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _leaves(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield list(path), command


def test_every_writing_command_is_covered():
    writers = [path for path, command in _leaves(_command([]))
               if any(p.name == "out" for p in command.params)]
    assert sorted(writers) == sorted(WRITERS)


@pytest.mark.parametrize("path", WRITERS, ids=" ".join)
def test_the_output_option_is_dash_o_and_dash_dash_out(path):
    command = _command(path)
    (out,) = [p for p in command.params if p.name == "out"]
    assert out.opts == ["-o", "--out"]
    assert not out.secondary_opts
    assert not out.hidden
    # no other visible option (or old spelling) takes the output's names
    others = [p for p in command.params if p is not out]
    for param in others:
        assert not {"-o", "--out", "--output"} & set(param.opts) or param.hidden, param.opts
    hidden = sorted(opt for p in others if p.hidden for opt in p.opts)
    assert hidden == OLD_SPELLINGS.get(tuple(path), [])


@pytest.mark.parametrize(("path", "spelling"), [
    (path, spelling) for path in WRITERS
    for spelling in ("-o", "--out", *OLD_SPELLINGS.get(tuple(path), []))
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_each_spelling_parses(path, spelling, tmp_path):
    """``-o X`` and ``--out X`` (and an old spelling where there is one) set the output."""
    command = _command(path)
    existing = tmp_path / "in.parquet"
    existing.touch()
    args = [str(existing) for p in command.params if p.param_type_name == "argument" and p.required]
    target = tmp_path / "result.json"
    with command.make_context(" ".join(path), [*args, spelling, str(target)]) as ctx:
        assert Path(ctx.params["out"]) == target


@pytest.mark.parametrize("path", WRITERS, ids=" ".join)
def test_help_documents_dash_o_and_dash_dash_out_only(path, capsys):
    code, help_text, _ = run(capsys, *path, "-h")
    assert code == 0
    assert "--out" in help_text
    assert "-o" in help_text
    assert "--output" not in help_text


def test_numerical_fit_writes_with_every_spelling(tmp_path, capsys):
    src = tmp_path / "train.parquet"
    write_table(src, make_jet_table(4000, seed=1))
    for spelling in ("-o", "--out", "--output"):
        target = tmp_path / f"cal{spelling.strip('-')}.json"
        code, _, err = run(capsys, "numerical", "fit", src, spelling, target, "--no-jms")
        assert code == 0, err
        assert target.is_file()
    # both given: -o/--out wins
    code, _, err = run(capsys, "numerical", "fit", src, "--output", tmp_path / "old.json",
                       "-o", tmp_path / "new.json", "--no-jms")
    assert code == 0, err
    assert (tmp_path / "new.json").is_file()
    assert not (tmp_path / "old.json").exists()
    # none given: click's own "missing option" usage error, naming the documented spelling
    code, _, err = run(capsys, "numerical", "fit", src)
    assert code == 2
    assert "'-o' / '--out'" in err
