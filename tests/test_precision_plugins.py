"""``odebench precision`` on a suite whose solver came from a loose plugin file (the suite's
``plugins:``): without ``--plugins`` the run is skipped with one line naming the file to pass,
with ``--plugins suite.yaml`` it is measured."""

from __future__ import annotations

import csv
import re
import textwrap

import pytest

from .conftest import CORE_PLUGINS, FAST_HEAD
from .test_docs import _readme_plugin

# README.md, "Add your own solver": my_euler.py as a plugin author saves it.
MY_EULER = _readme_plugin()

SUITE = "name: my-euler\nplugins: [my_euler.py]\n" + FAST_HEAD + textwrap.dedent("""\
    seeds: [0]
    devices: [cpu]
    runs:
      - {model: node, solver: {name: my-euler, steps: 1}, gradient: backprop, validity: false}
    """)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The suite run once: (suite file, results dir)."""
    from odebench.cli import main

    folder = tmp_path_factory.mktemp("my-euler")
    (folder / "my_euler.py").write_text(MY_EULER)
    suite = folder / "suite.yaml"
    suite.write_text(SUITE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)
        assert main(["run", str(suite), "--results", str(folder / "results")]) == 0
    return suite, folder / "results"


PRECISION = ["--solver", "rk4", "--max-steps", "2", "--batch", "4", "--reference-tol", "1e-3"]


def test_precision_without_the_plugin_file_says_which_to_pass(trained, cli, core_plugins_only):
    _, results = trained
    code, out, err = cli("precision", "--suite", "my-euler", "--results", results, *PRECISION)
    assert code == 2  # nothing to measure, as for any suite without a measurable run
    assert "Traceback" not in err and "KeyError" not in err
    skip, error = err.strip().splitlines()  # one line for the run, one for the command
    assert re.fullmatch(r"skipped node .*: solver 'my-euler' is not registered; pass --plugins .*my_euler\.py.*",
                        skip), skip
    assert error.startswith("odebench: error: suite 'my-euler': nothing measured") and "--plugins" in error
    assert not (results / "my-euler" / "precision.csv").exists()


def test_precision_with_the_suite_file_measures_the_run(trained, cli, core_plugins_only):
    suite, results = trained
    code, out, err = cli("precision", "--suite", "my-euler", "--results", results, "--plugins", suite,
                         *PRECISION)
    assert code == 0, err
    rows = list(csv.DictReader((results / "my-euler" / "precision.csv").open()))
    assert [(r["solver"], r["steps"], r["status"]) for r in rows] == [("rk4", "1", "ok"), ("rk4", "2", "ok")]
    assert all(float(r["error"]) >= 0 and int(r["nfe"]) > 0 for r in rows)


def test_precision_plugins_names_a_missing_file_in_one_line(trained, cli, core_plugins_only, tmp_path):
    _, results = trained
    code, out, err = cli("precision", "--suite", "my-euler", "--results", results,
                         "--plugins", tmp_path / "nope.py", *PRECISION)
    assert code == 2
    assert err.strip().splitlines() == [f"odebench: error: --plugins {str(tmp_path / 'nope.py')!r}: no such file; "
                                        "pass a plugin *.py file or a suite YAML"]
