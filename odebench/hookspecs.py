"""The odebench plugin contract. This file is the one a plugin author reads.

A plugin is a module (or object) with functions decorated by ``@odebench.hookimpl``.
It is found through the ``odebench`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.odebench]
    mysolver = "my_package.odebench_plugin"

or loaded from a loose ``*.py`` file (``odebench run --plugins-dir DIR`` or a suite's
``plugins: [path/to/file.py]``). odebench's own models, solvers and datasets are registered
the same way (see ``plugins/`` in the repository).

Every hook is a *registration callback*: odebench calls it with a ``register`` function and
your plugin calls ``register(name, thing, ...)`` once per thing it provides. Names are global;
two plugins registering the same name is an error reported by ``odebench plugins``, and so
is a name that is not a string or a thing that is not callable. A plugin that fails to
import (an exception, even ``sys.exit()``) is listed there as failed; the others work.

Run identity: a finished run is not rerun. It records the versions of the plugins it loaded
(a distribution's version, or a loose file's content hash); when a plugin it used has another
version now, ``odebench run`` reports the run as stale and reruns it with ``--rerun-stale``.

Model factory
    ``factory(shape: odebench.DatasetShape, solver: odebench.Solver | None, **params)
    -> torch.nn.Module``

    ``params`` are the run's keys from the suite (everything but ``model`` and ``solver``).
    Declare each as a keyword argument with a default and a type annotation: odebench
    validates suites against that signature (unknown key, wrong type, or a value outside a
    ``Literal[...]``, or out of its declared range), before anything runs. Declare a range
    with ``annotated_types`` metadata::

        from typing import Annotated
        from annotated_types import Ge, Lt

        def build(shape, *, blocks: Annotated[int, Ge(0)] = 6,
                  dropout: Annotated[float, Ge(0), Lt(1)] = 0.0): ...

    (``Gt``, ``Ge``, ``Lt``, ``Le``, ``Interval``, ``MultipleOf``, ``MinLen``, ``MaxLen``,
    ``Len`` and ``Predicate`` are checked; ``Annotated[float | None, Gt(0)]`` allows None.)
    NaN and infinite numbers are refused for every parameter. Defaults are filled into the
    stored config and the run key, so an omitted parameter and its explicit default are the
    same run; keep defaults plain data (numbers, strings, lists). ``shape`` gives
    ``channels``, ``length`` and
    ``n_classes`` of the dataset. ``solver`` is given when the factory has a ``solver``
    argument (an ODE model) and the run names one; it is ``None`` otherwise. A factory with
    an ``eval_solver`` argument also receives the suite's ``eval_solver:`` (options merged over
    the solver's, e.g. a looser tolerance) to use in eval mode.

    The module maps a float32 batch ``(batch, channels, length)`` to logits
    ``(batch, n_classes)``. odebench moves it to the run's device, trains it with
    cross-entropy and times it. Optional: a ``counters`` attribute, a ``dict[str, int]`` of
    monotonically increasing counts (``"nfe"`` function evaluations, ``"steps_accepted"``,
    ``"steps_rejected"``); odebench reads it around every forward and backward pass and stores
    per-batch means as ``nfe_forward``/``nfe_backward`` etc. A float counter
    ``"dynamics_seconds"`` (seconds spent inside the dynamics, forward evaluations and their
    backward passes) also gives each epoch a ``dynamics_share``: that time over the epoch's.

    Optional: an ``extra_loss()`` method returning ``dict[str, Tensor]`` of scalar loss terms
    computed by the last forward pass (e.g. a regulariser; ``{}`` when there are none).
    odebench calls it after every training forward pass, adds the terms to the cross-entropy
    before the backward pass, and logs each term's epoch mean under its name (e.g.
    ``reg_kinetic``) in the epoch rows, and the last epoch's in the run's metrics;
    ``train_loss`` stays the cross-entropy alone. Names must not be odebench's own metrics.

    Optional, for ODE models: a method ``odebench_ode(x, solver) -> (logits, final_state)``
    that runs the batch ``x`` through the model with ``solver`` (an ``odebench.Solver``)
    in place of its own, and returns the logits and the state the ODE ends in (batch first;
    with several ODE blocks, the last one's, or all of them flattened and concatenated).
    Called under ``torch.no_grad()`` in eval mode. odebench uses it after training to check
    that the model is still an ODE (the same test set with a tight-tolerance reference solver
    and with 2x/4x/8x the training solver's steps: ``validity_*`` metrics) and for
    work-precision diagrams (``odebench precision``). A model without it is not checked.
    For a model whose ODE block calls ``self.solver(self.func, z0, self.t)``::

        def odebench_ode(self, x, solver):
            state = solver(self.block.func, self.trunk(x), self.block.t)[-1]
            return self.head(state), state

    Raise ``odebench.Unsupported("why")`` from the factory for a combination the model cannot
    run (the run is recorded as *skipped*), and ``odebench.Diverged`` from ``forward`` when
    the dynamics blow up (recorded as *diverged*).

Solver
    ``solve(func, y0, t, **options) -> Tensor`` with ``func(t, y) -> dy/dt``, ``y0`` a tensor,
    ``t`` a 1-D increasing tensor of times (on y0's device). It returns the solution at every
    time of ``t``, shaped ``(len(t), *y0.shape)``, like ``torchdiffeq.odeint``. ``options``
    are the suite's solver keys except ``name``; declare them as keyword arguments with
    defaults and annotations (validated like model params, ranges included, e.g.
    ``rtol: Annotated[float, Gt(0)] = 1e-3``).

    Optional adjoint: ``register(name, solve, adjoint=solve_adjoint)`` with
    ``solve_adjoint(func, y0, t, *, adjoint_params, seminorm, **options)`` computing gradients
    by solving the adjoint ODE backwards (``func`` is an ``nn.Module``; ``adjoint_params`` the
    parameters to differentiate; ``seminorm`` True to leave the parameter adjoint out of the
    backward error norm). Models receive an ``odebench.Solver`` with the options bound: call
    ``solver(func, y0, t)`` or ``solver.adjoint(func, y0, t, adjoint_params=..., seminorm=...)``.

Dataset loader
    ``load(**params) -> odebench.Dataset`` with ``x_train``/``x_test`` float32 tensors
    ``(N, channels, length)``, ``y_train``/``y_test`` int64 tensors ``(N,)`` with values in
    ``0 .. len(class_names) - 1``, and ``class_names``. ``params`` are the suite's
    ``dataset:`` keys except ``name``, validated against the signature like model params.
    A run needs samples in both sets and every class of the train set in the test set
    (otherwise the suite stops with a DataError before any run: odebench loads each dataset
    once before dispatching); never put the same samples in train and test.
    ``train_size``/``test_size`` are handled by odebench for every dataset (a stratified
    subsample with a fixed seed) unless your loader declares them itself. Raise
    ``odebench.DataError("one line: what is wrong and how to fix it")`` for missing or
    corrupt input.

Problem (for ``odebench bench``, the solver benchmark)
    ``make() -> odebench.Problem``: an initial-value problem with a reference solution,
    registered with ``register(name, make, tier="quick")`` to be in the default quick set
    (every problem is in the full set, ``--tier full``). ``make`` is called only when the
    problem is benchmarked. A ``Problem`` holds ``f(t, y)`` (batched: ``y`` is
    ``(batch, ...)``), ``y0``, the output times ``t``, ``reference`` (float64, the solution
    at every time of ``t``: the closed form, or an independent float64 solve committed as an
    array with the command that recomputes it), ``stiff``, ``source`` and
    ``reference_method``; see ``odebench/problems.py``. An ``f`` that is an ``nn.Module``
    with parameters (trained Neural-ODE dynamics) is benchmarked backward too. ``odebench
    check NAME`` checks a problem's contract and that dopri5 reaches its reference.

Executor
    ``factory(**options) -> executor`` where ``executor.map(fn, tasks)`` calls the picklable
    ``fn(task) -> outcome`` for every task, wherever it likes, and yields ``(task, outcome)``
    pairs as they complete. ``fn`` already isolates each run in its own process and enforces
    its timeout; only the driver writes results. ``tasks`` is an iterator that claims each run
    for this driver as it is drawn (so other drivers on the store skip it): draw a task when
    you can start it, not all at once, unless the runs start at once anyway. Options come from the CLI (``--workers``,
    ``--scheduler``) and are passed only when given. An executor may set
    ``task["default_threads"]`` (the run's share of its machine's cores, used when the suite
    sets no ``threads``) and ``task["parallel_runs"]`` (runs sharing that machine, stored with
    the row). On KeyboardInterrupt it yields an ``interrupted`` outcome for each run in flight,
    then re-raises. Tasks and outcomes are ``odebench.types.Task``/``Outcome``; build an
    outcome of your own (e.g. a lost worker: ``failed``) with ``odebench.types.outcome``.
    Live progress: ``fn`` hands each run's progress events (dicts) to
    ``odebench.progress.publish`` in the process it runs in; an executor that runs ``fn`` in
    other processes may carry them back and call ``publish`` in the driver (the Dask executor
    does, through the scheduler's event log). Without that, only finished runs are shown.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("odebench")

Register = Callable[..., None]


@hookspec
def register_models(register: Register) -> None:
    """Register model factories: ``register(name, factory)``."""


@hookspec
def register_solvers(register: Register) -> None:
    """Register ODE solvers: ``register(name, solve, adjoint=None)``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset loaders: ``register(name, load)``."""


@hookspec
def register_problems(register: Register) -> None:
    """Register benchmark problems: ``register(name, make, tier="full")``."""


@hookspec
def register_executors(register: Register) -> None:
    """Register run executors: ``register(name, factory)``."""
