"""Bad input: each case exits 2 with one line naming the problem, before anything runs, and
writes nothing (no results directory, no store file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FAST_HEAD as HEAD

GOOD = f"name: good\n{HEAD}runs:\n  - model: resnet\n    blocks: 0\n"
BROKEN_PLUGIN = '''\
import odebench

@odebench.hookimpl
def register_models(register)   # the colon is missing
    register("broken", object)
'''


pytestmark = pytest.mark.usefixtures("core_plugins_only")


def assert_bad_input(result, *needles: str) -> str:
    code, out, err = result
    assert code == 2, (out, err)
    line = err.strip()
    assert line.startswith("odebench: error: ") and "\n" not in line, err
    for needle in needles:
        assert needle in line, line
    assert "Traceback" not in out + err
    return line


def nothing_written(results: Path) -> bool:
    return not results.exists() and not (results / "odebench.sqlite").exists()


@pytest.mark.parametrize("kind", ["missing", "directory", "invalid-yaml", "not-a-mapping"])
def test_unreadable_suite(cli, tmp_path, kind):
    suite = tmp_path / "suite.yaml"
    if kind == "directory":
        suite.mkdir()
    elif kind == "invalid-yaml":
        suite.write_text("name: x\nruns: [\n")
    elif kind == "not-a-mapping":
        suite.write_text("- just\n- a list\n")
    results = tmp_path / "results"
    assert_bad_input(cli("run", suite, "--results", results), str(suite))
    assert nothing_written(results)


def test_results_directory_not_writable(cli, write_suite, tmp_path):
    # Tests run as root, which chmod does not stop: put the results under a regular file.
    suite = write_suite(GOOD)
    (tmp_path / "afile").write_text("not a folder")
    results = tmp_path / "afile" / "results"
    assert_bad_input(cli("run", suite, "--results", results), "--results")
    assert (tmp_path / "afile").read_text() == "not a folder"
    assert not (tmp_path / "afile").is_dir()


def test_unreadable_existing_store(cli, write_suite, tmp_path):
    suite = write_suite(GOOD)
    results = tmp_path / "results"
    results.mkdir()
    (results / "odebench.sqlite").write_bytes(b"this is not a SQLite database" * 100)
    assert_bad_input(cli("run", suite, "--results", results), "odebench.sqlite")
    assert (results / "odebench.sqlite").read_bytes().startswith(b"this is not")


def test_plugins_dir_missing(cli, write_suite, tmp_path):
    suite = write_suite(GOOD)
    results = tmp_path / "results"
    assert_bad_input(cli("run", suite, "--results", results, "--plugins-dir", tmp_path / "nope"),
                     "nope")
    assert nothing_written(results)


def test_plugin_with_a_syntax_error_is_listed_and_the_tool_still_works(cli, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_PLUGIN)
    code, out, err = cli("plugins", "--plugins-dir", plugins)
    assert code == 0, err
    assert "plugins that failed to load" in out
    failed = out[out.index("plugins that failed to load"):]
    assert "broken.py" in failed and "SyntaxError" in failed
    assert "resnet" in out and "dopri5" in out  # everything else is still there


def test_suite_naming_a_broken_plugin_fails_validation(cli, write_suite, tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN_PLUGIN)
    suite = write_suite(f"name: uses-broken\n{HEAD}plugins: [broken.py]\n"
                        "runs:\n  - model: resnet\n    blocks: 0\n")
    results = tmp_path / "results"
    assert_bad_input(cli("run", suite, "--results", results), "broken.py", "SyntaxError")
    assert nothing_written(results)


def test_plugins_dir_holding_a_broken_plugin_fails_validation(cli, write_suite, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_PLUGIN)
    results = tmp_path / "results"
    assert_bad_input(cli("run", write_suite(GOOD), "--results", results, "--plugins-dir", plugins),
                     "broken.py", "SyntaxError")
    assert nothing_written(results)


@pytest.mark.parametrize("args, needle", [
    (["--executor", "ray"], "unknown executor 'ray'"),
    (["--workers", "4"], "--executor dask"),
    (["--executor", "dask", "--workers", "0"], "--workers"),
])
def test_bad_executor_options(cli, write_suite, tmp_path, args, needle):
    results = tmp_path / "results"
    assert_bad_input(cli("run", write_suite(GOOD), "--results", results, *args), needle)
    assert nothing_written(results)


def test_bad_timeout_is_a_usage_error(cli, write_suite, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli("run", write_suite(GOOD), "--results", tmp_path / "results", "--timeout", "soon")
    assert exc.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    assert nothing_written(tmp_path / "results")
