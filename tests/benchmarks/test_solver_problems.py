"""Every registered solver on every quick benchmark problem, one forward solve each at a
representative setting, with its accuracy checked: ``odebench.solver_benchmarks`` (what a
plugin author runs with ``pytest --pyargs odebench.solver_benchmarks --benchmark-only``), here
so that ``pytest --benchmark-only tests/benchmarks`` runs it too. ``ODEBENCH_PLUGINS`` and
``ODEBENCH_SOLVERS`` apply as there; plain ``pytest`` skips these (tests/conftest.py).
"""

from odebench.solver_benchmarks import *  # noqa: F403 - the test and its module fixture
