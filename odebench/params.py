"""Plugin parameters: what a plugin callable accepts (read from its signature), checking a
suite's values against it, and the one subsample rule (``train_size``/``test_size`` go to a
loader that declares them; odebench subsamples for any other).

Used by the suite loader, the run process, ``odebench check`` and ``odebench data``.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, Union

from .types import SuiteError

# Every dataset accepts these; see split_subsample.
SUBSAMPLE: dict[str, Any] = {"train_size": int | None, "test_size": int | None}


def suggest(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'? (known: a, b)``: the tail of an unknown-name error."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}(known: {', '.join(known) or 'none'})"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    if tp is inspect.Parameter.empty or tp is Any:
        return True
    origin = typing.get_origin(tp)
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


def param_types(fn: Callable[..., Any], skip: int | set[str] = 0) -> tuple[dict[str, Any], bool]:
    """The keyword parameters a plugin callable accepts, with their annotations, and whether it
    takes ``**kwargs``. ``skip`` drops the first N positional parameters or the named ones."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
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
    """Raise SuiteError for the first unknown key or value of the wrong type."""
    for key, value in params.items():
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
