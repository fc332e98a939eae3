"""Plugin parameters: what a plugin callable accepts (read from its signature), checking a
suite's values against it, and the one subsample rule (``train_size``/``test_size`` go to a
loader that declares them; odebench subsamples for any other).

Used by the suite loader, the run process, ``odebench check`` and ``odebench data``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Union

import annotated_types as at

from .types import SuiteError

# Every dataset accepts these; see split_subsample.
SUBSAMPLE: dict[str, Any] = {"train_size": Annotated[int | None, at.Ge(1)],
                             "test_size": Annotated[int | None, at.Ge(1)]}
# numpy's legacy seeding (np.random.seed, used by every run) takes 0 .. 2**32 - 1.
SEED = Annotated[int, at.Ge(0), at.Le(2**32 - 1)]


def suggest(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'? (known: a, b)``: the tail of an unknown-name error."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}(known: {', '.join(known) or 'none'})"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    if tp is inspect.Parameter.empty or tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _matches(value, typing.get_args(tp)[0])
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        if tp in (str, bool, list, dict):
            return isinstance(value, tp)
        return True  # richer types (e.g. odebench.Solver) are not suite values
    return True


def _constraints(tp: Any) -> list[Any]:
    """The ``annotated_types`` bounds of an ``Annotated[...]`` type (grouped ones unpacked),
    including those of an ``Annotated`` inside ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in _constraints(a)]
    if origin is not Annotated:
        return []
    out: list[Any] = []
    for meta in typing.get_args(tp)[1:]:
        out += list(meta) if isinstance(meta, at.GroupedMetadata) else [meta]
    return out


_BOUNDS = {at.Gt: (">", "gt", lambda v, b: v > b), at.Ge: (">=", "ge", lambda v, b: v >= b),
           at.Lt: ("<", "lt", lambda v, b: v < b), at.Le: ("<=", "le", lambda v, b: v <= b)}


def range_problem(value: Any, tp: Any) -> str | None:
    """What ``value`` breaks of ``tp``'s ``annotated_types`` metadata (``must be >= 1``), or
    None. Supported: Gt, Ge, Lt, Le, Interval, MultipleOf, MinLen, MaxLen, Len, Predicate."""
    if value is None:
        return None
    for c in _constraints(tp):
        kind = type(c)
        if kind in _BOUNDS:
            symbol, attr, ok = _BOUNDS[kind]
            bound = getattr(c, attr)
            if not ok(value, bound):
                return f"must be {symbol} {bound:g}" if isinstance(bound, float) else f"must be {symbol} {bound}"
        elif kind is at.MultipleOf and value % c.multiple_of:
            return f"must be a multiple of {c.multiple_of}"
        elif kind is at.MinLen and len(value) < c.min_length:
            return f"must have at least {c.min_length} item(s)"
        elif kind is at.MaxLen and len(value) > c.max_length:
            return f"must have at most {c.max_length} item(s)"
        elif kind is at.Predicate and not c.func(value):
            return f"must satisfy {getattr(c.func, '__name__', 'its check')}"
    return None


def non_finite(value: Any) -> float | None:
    """The first NaN or infinite float in ``value`` (searched through lists and mappings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = non_finite(item)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=512)
def _introspect(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    return inspect.signature(fn), hints


def introspect(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """A plugin callable's signature and type hints (``Annotated`` kept), cached: a grid asks
    for the same few callables thousands of times."""
    try:
        return _introspect(fn)
    except TypeError:  # an unhashable callable object
        return _introspect.__wrapped__(fn)


def param_types(fn: Callable[..., Any], skip: int | set[str] = 0) -> tuple[dict[str, Any], bool]:
    """The keyword parameters a plugin callable accepts, with their annotations, and whether it
    takes ``**kwargs``. ``skip`` drops the first N positional parameters or the named ones."""
    sig, hints = introspect(fn)
    params = list(sig.parameters.values())
    if isinstance(skip, int):
        params = params[skip:]
    else:
        params = [p for p in params if p.name not in skip]
    accepted: dict[str, Any] = {}
    var_kw = False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is not p.VAR_POSITIONAL:
            accepted[p.name] = hints.get(p.name, p.annotation)
    return accepted, var_kw


def check_params(
    params: dict[str, Any], accepted: dict[str, Any], var_kw: bool, where: str, what: str
) -> None:
    """Raise SuiteError for the first unknown key, value of the wrong type, value outside the
    range its annotation declares, or NaN/infinite number (never a valid setting)."""
    for key, value in params.items():
        bad = non_finite(value)
        if bad is not None:
            raise SuiteError(f"{where}.{key}: {bad} is not a finite number; give a number")
        if key not in accepted:
            if var_kw:
                continue
            raise SuiteError(f"{where}.{key}: unknown parameter of {what}; {suggest(key, accepted)}")
        if not _matches(value, accepted[key]):
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
                hint = f" (YAML reads {value} as text: write it with a dot, e.g. 1.0e-3)"
            raise SuiteError(
                f"{where}.{key}: expected {_type_name(accepted[key])} for {what}, got {value!r}{hint}"
            )
        problem = range_problem(value, accepted[key])
        if problem:
            raise SuiteError(f"{where}.{key}: {problem} for {what}, got {value!r}")


def check_dataset_params(load: Callable[..., Any], params: dict[str, Any], where: str, name: str) -> None:
    """Check a dataset's params (``name`` excluded) against its loader, ``train_size`` and
    ``test_size`` included for every loader."""
    accepted, var_kw = param_types(load)
    check_params(params, {**SUBSAMPLE, **accepted}, var_kw, where, f"dataset {name!r}")


def split_subsample(load: Callable[..., Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(what the loader receives, the sizes odebench applies itself)``: a loader that declares
    ``train_size``/``test_size`` (or takes ``**kwargs``) gets them, for any other odebench
    takes a stratified subsample after loading."""
    accepted, var_kw = param_types(load)
    ours = {k: params[k] for k in SUBSAMPLE if k in params and k not in accepted and not var_kw}
    return {k: v for k, v in params.items() if k not in ours}, ours
