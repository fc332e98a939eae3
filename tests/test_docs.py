"""Docs that run: every command and snippet in README.md and docs/ is exercised.

- Every ``odebench ...`` command in a shell block parses with the CLI's own parser, and a
  shipped suite it names loads and validates with the command's ``--set`` overrides.
- Every other command in a shell block names something that exists (a script of the
  repository and the options it takes, a folder to install) or is a set-up command that
  ``.ci/run`` runs itself.
- Every suite YAML snippet loads (next to the plugin file it names, where it names one).
- The README's solver plugin and its suite run as written, with the outcome the README states;
  the plugin package of docs/writing-plugins.md installs with pip and passes ``odebench check``
  with the counts the page shows.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from odebench.cli import build_parser
from odebench.store import Store
from odebench.suite import load_suite

from .conftest import CORE_PLUGINS

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = {"bash", "sh", "shell", "console"}  # a block without a language shows output


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """The fenced code blocks of a page: (language, text, line of the opening fence)."""
    found, lang, start, lines = [], None, 0, []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, lines = line[3:].strip(), number, []
            else:
                found.append((lang, "\n".join(lines), start))
                lang = None
        elif lang is not None:
            lines.append(line)
    return found


def shell_commands(text: str) -> list[list[str]]:
    """The commands of a shell block, as words: continuation lines joined, comments dropped,
    ``&&`` chains split."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        command: list[str] = []
        for word in words + ["&&"]:
            if word == "&&":
                if command:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands


def _program(words: list[str]) -> str:
    """The program a command runs, after any VAR=value words."""
    return next((w for w in words if not re.match(r"^\w+=", w)), "")


COMMANDS = [(f"{page.relative_to(REPO)}:{line}", words) for page in PAGES
            for lang, text, line in blocks(page) if lang in SHELLS for words in shell_commands(text)]
ODEBENCH = [(where, words) for where, words in COMMANDS if _program(words) == "odebench"]
OTHER = [(where, shlex.join(words)) for where, words in COMMANDS if _program(words) != "odebench"]


def test_the_docs_hold_commands_to_check():
    assert len(ODEBENCH) >= 30 and len(OTHER) >= 5


@pytest.mark.parametrize("where, words", ODEBENCH, ids=[f"{w} {shlex.join(c)[:60]}" for w, c in ODEBENCH])
def test_odebench_command_parses_and_its_suite_validates(where, words, monkeypatch):
    command, words = shlex.join(words), list(words)
    while re.match(r"^\w+=", words[0]):  # VAR=value before the command
        name, _, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, os.path.expanduser(value))
    argv = words[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: `{command}` does not parse (exit {exc.code})")
    suite = getattr(args, "suite", None)
    if args.command == "run" and suite and (REPO / suite).exists():
        load_suite(REPO / suite, overrides=args.set or [], check_devices=False)


# Scripts of the repository: the options a page gives them must be options they take.
SCRIPT = re.compile(r"^python3? (tests/\S+\.py)(.*)$")


@pytest.mark.parametrize("where, command", OTHER, ids=[f"{w} {c[:60]}" for w, c in OTHER])
def test_other_command_names_what_exists(where, command):
    ci = (REPO / ".ci" / "run").read_text()
    command = re.sub(r"^(\w+=\S+\s+)+", "", command)  # VAR=value words set the environment
    if match := SCRIPT.match(command):
        script = REPO / match.group(1)
        assert script.exists(), f"{where}: {script} does not exist"
        source = script.read_text()
        for option in re.findall(r"(--[\w-]+)", match.group(2)):
            assert f'"{option}"' in source, f"{where}: {script.name} takes no {option}"
    elif command.startswith(("python -m pytest", "pytest")):
        assert command != "python -m pytest -q" or command in ci  # the README's test command
        for name in shlex.split(command):
            assert not name.startswith("tests/") or (REPO / name).exists(), f"{where}: {name} does not exist"
    elif command.startswith("pip install"):
        target = shlex.split(command)[-1]
        if "odebench-euler" in target:
            return  # the package built on the page: installed by the package test below
        assert target in ci, f"{where}: `{command}` is not what .ci/run installs"
        if "/" in target:
            assert (REPO / target).is_dir(), f"{where}: {target} does not exist"
    elif command.startswith(("python3 -m venv", ". .venv/bin/activate")):
        assert command in ci, f"{where}: `{command}` is not how .ci/run sets up"
    elif command.startswith("sqlite3 results/odebench.sqlite"):
        _query_runs_on_a_real_store(shlex.split(command)[2])
    elif command.startswith("python -c "):
        # A one-liner that prints committed numbers from results/: it runs and prints them.
        done = subprocess.run([sys.executable, "-c", shlex.split(command)[2]], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip(), f"{where}: `{command}` fails: {done.stderr[-300:]}"
    else:
        pytest.fail(f"{where}: no check for `{command}`: add one to tests/test_docs.py")


def _query_runs_on_a_real_store(sql: str) -> None:
    """Run a page's SQL on a store that has its tables: the columns it names exist."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        store.open()
        with sqlite3.connect(store.path) as conn:
            conn.execute(sql).fetchall()


def test_the_readme_set_up_commands_are_what_ci_runs():
    """The README's two set-up commands: the main job runs the smoke suite, the test command
    installs what CI installs and runs the test command CI runs (each of their steps is checked
    against .ci/run by test_other_command_names_what_exists)."""
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    main, tests = [c for lang, c, _ in blocks(REPO / "README.md") if "python3 -m venv" in c][:2]
    assert "odebench run suites/smoke.yaml" in main
    for step in ("pip install torch==2.13.0", "pip install -e '.[test]'", "pip install -e examples/odebench-torchode",
                 "python -m pytest -q"):
        assert step in tests, f"the README's test command lacks `{step}`"
    assert "mkdocs build --strict" in ci and "mkdocs build --strict" in readme


# ---------------------------------------------------------------- snippets that run

def _snippets(page: Path, lang: str) -> list[str]:
    return [text for language, text, _ in blocks(page) if language == lang]


def _readme_plugin() -> str:
    return next(t for t in _snippets(REPO / "README.md", "python") if "register_solvers" in t)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_suite_snippet_loads(page, tmp_path, monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS + ",mitbih,mitbih-csv")
    for number, text in enumerate(_snippets(page, "yaml")):
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or "runs" not in data:
            continue  # a fragment (one key), not a suite
        folder = tmp_path / str(number)
        folder.mkdir()
        for name in data.get("plugins") or []:
            (folder / name).write_text(_readme_plugin())
        (folder / "suite.yaml").write_text(text)
        load_suite(folder / "suite.yaml", check_devices=False)


def test_the_readme_plugin_and_suite_run_as_written(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)
    readme = REPO / "README.md"
    suite = next(t for t in _snippets(readme, "yaml") if "my_euler.py" in t)
    (tmp_path / "my_euler.py").write_text(_readme_plugin())
    (tmp_path / "suite.yaml").write_text(suite)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("run", "suite.yaml", "--progress", "off")
    assert code == 0, err
    lines = out.splitlines()
    for steps in (1, 4):
        backprop = next(x for x in lines if f"my-euler steps={steps}" in x and "backprop" in x)
        assert " done " in backprop
        adjoint = next(x for x in lines if f"my-euler steps={steps}" in x and "adjoint" in x)
        assert " skipped " in adjoint
    assert any("rk4 steps=1" in x and " done " in x for x in lines)
    reason = "solver 'my-euler' has no adjoint; use gradient: backprop"
    assert reason in " ".join(readme.read_text().split())  # as the README quotes it
    assert reason in " ".join((out + err).split())
    assert (tmp_path / "results" / "my-euler" / "report.html").exists()
    with sqlite3.connect(tmp_path / "results" / "odebench.sqlite") as conn:
        nfe = sorted(int(v) for (v,) in conn.execute(
            "SELECT json_extract(metrics, '$.nfe_forward') FROM runs WHERE status = 'done' "
            "AND json_extract(config, '$.solver.name') = 'my-euler'"))
    assert nfe == [1, 4]  # "NFE forward 1 and 4 per batch"


@pytest.mark.slow
def test_the_plugin_package_of_writing_plugins_installs_and_passes_its_checks(tmp_path):
    page = REPO / "docs" / "writing-plugins.md"
    text = page.read_text()
    pyproject = next(t for t in _snippets(page, "toml") if 'name = "odebench-euler"' in t)
    package = tmp_path / "odebench-euler"
    package.mkdir()
    (package / "pyproject.toml").write_text(pyproject)
    (package / "odebench_euler.py").write_text(_readme_plugin())  # "the my_euler.py module, unchanged"
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                              str(package)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
           "ODEBENCH_LOAD_PLUGINS": CORE_PLUGINS + ",my-euler"}

    def odebench(*args):
        return subprocess.run([sys.executable, "-m", "odebench.cli", *args], capture_output=True, text=True,
                              env=env, timeout=600)

    listing = odebench("plugins")
    assert listing.returncode == 0, listing.stderr
    assert any("| my-euler " in x and "odebench-euler 0.1.0" in x for x in listing.stdout.splitlines())
    check = odebench("check", "my-euler")
    summary = re.search(r"checks: \d+ pass, \d+ fail, \d+ skipped", check.stdout)
    assert check.returncode == 0 and summary, check.stdout + check.stderr
    assert summary.group(0) in text  # the counts the page shows
