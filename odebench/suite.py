"""Suites: load a YAML file, validate it against the registered plugins, expand the grid.

Everything is checked before anything runs; a problem raises ``SuiteError`` with one line
naming the file, the field and the fix.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types as at
import yaml

from . import validity
from .params import SEED, check_dataset_params, check_params, introspect, param_types, range_problem, suggest
from .plugins import Registry, load_registry, plugin_files_in
from .types import SuiteError

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 5,
    "batch_size": 128,
    "eval_batch_size": 256,
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "max_batches": None,
}
TRAIN_TYPES: dict[str, Any] = {
    "epochs": Annotated[int, at.Ge(1)],
    "batch_size": Annotated[int, at.Ge(1)],
    "eval_batch_size": Annotated[int, at.Ge(1)],
    "optimizer": Literal["sgd", "adam"],
    "lr": Annotated[float, at.Gt(0)],
    "momentum": Annotated[float, at.Ge(0)],
    "weight_decay": Annotated[float, at.Ge(0)],
    "max_batches": Annotated[int | None, at.Ge(1)],
}
TOP_KEYS = {
    "name", "description", "dataset", "train", "seeds", "devices", "runs", "plugins",
    "timeout", "threads", "validity", "save_weights",
}
RUN_RESERVED = {"model", "solver", "eval_solver", "train", "validity"}
MAX_RUNS = 10_000  # a bigger grid is refused unless --max-runs raises the cap
MAX_SUITE_BYTES = 1 << 20  # a suite is a small text file; this bounds what is read
MAX_YAML_NODES = 100_000  # values after alias expansion: an alias bomb stops here
NAME_LENGTH = 100  # suite names become folder names
# Config keys that are not part of a run's identity (see run_key).
NOT_IDENTITY = ("explicit",)


@dataclass
class Suite:
    name: str
    path: str
    runs: list[dict[str, Any]]
    plugin_files: list[str]
    timeout: float | None
    registry: Registry = field(repr=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    save_weights: bool = True  # keep each done run's trained weights under <results>/weights/


def run_key(config: dict[str, Any]) -> str:
    """A stable hash of a run's resolved config: what decides that two runs are the same.
    Plugin defaults are filled in the config, so an omitted setting and its explicit default
    are one run; ``explicit`` (which keys the suite wrote, for labels) is left out."""
    identity = {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def upgraded_config(config: dict[str, Any], registry: Registry) -> dict[str, Any] | None:
    """A stored config under today's rule: its dataset, model params and solver options
    filled with the plugins' defaults as ``load_suite`` fills them (everything else as it
    was), and ``explicit`` set to the keys it held where it has none. None when a plugin it
    names is gone or the config is odd."""
    try:
        config = dict(config)
        if "explicit" not in config:
            # Stored before configs said which keys the suite wrote: then they held only those,
            # so the labels stay as they were ("blocks=6", not every default filled in below).
            config["explicit"] = {part: sorted(k for k in config[part] if k != "name")
                                  for part in ("params", "solver", "eval_solver")
                                  if isinstance(config.get(part), dict)}
        dataset = config.get("dataset")
        if isinstance(dataset, dict) and dataset.get("name") in registry.datasets:
            config["dataset"] = _filled(registry.datasets[dataset["name"]].obj, dataset, skip={"name"})
        if config.get("model") in registry.models:
            config["params"] = _filled(registry.models[config["model"]].obj, config.get("params") or {},
                                       skip={"shape", "solver", "eval_solver"})
        for key in ("solver", "eval_solver"):
            solver = config.get(key)
            if isinstance(solver, dict) and solver.get("name") in registry.solvers:
                config[key] = _filled(registry.solvers[solver["name"]].obj, solver, skip=3)
        return config
    except Exception:  # noqa: BLE001 - an odd old config is simply not upgraded
        return None


def upgraded_key(config: dict[str, Any], registry: Registry) -> str | None:
    """The run key of a stored config under today's rule (``upgraded_config``). A store
    written before defaults were filled in keys its runs without them; this finds them again
    (for a config that has them, it is ``run_key``). None when a plugin it names is gone."""
    upgraded = upgraded_config(config, registry)
    try:
        return None if upgraded is None else run_key(upgraded)
    except Exception:  # noqa: BLE001 - not JSON: not matched
        return None


def mixed_defaults(configs: typing.Iterable[dict[str, Any]]) -> bool:
    """Whether some stored configs of one dataset, model or solver hold keys that others lack:
    runs stored before a plugin gained a param (filled in since) beside newer ones. Their
    configs differ only by defaults; ``upgraded_config`` makes them comparable."""
    seen: dict[tuple, set] = {}
    for config in configs:
        parts = [("params", config.get("model"), config.get("params"))]
        parts += [(k, (config.get(k) or {}).get("name"), config.get(k)) for k in ("dataset", "solver", "eval_solver")
                  if isinstance(config.get(k), dict)]
        for part, name, values in parts:
            if isinstance(values, dict):
                seen.setdefault((part, str(name)), set()).add(frozenset(values))
    return any(len(keys) > 1 for keys in seen.values())


def with_upgraded_configs(runs: list[dict[str, Any]], registry: Registry) -> list[dict[str, Any]]:
    """``runs`` (stored) with each config under today's rule (``upgraded_config``; one that
    cannot be upgraded stays as stored), so that reports group a run stored before a param
    existed with the same run stored after."""
    out = []
    for run in runs:
        upgraded = upgraded_config(run["config"], registry)
        out.append(run if upgraded is None else {**run, "config": upgraded})
    return out


def count(value: Any, memo: dict[int, int] | None = None) -> int:
    """How many variants ``expand(value)`` gives, without expanding (shared YAML aliases are
    counted once each, so this stays fast for any input)."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        n = math.prod(count(v, memo) for v in value.values())
    elif isinstance(value, list):
        n = sum(count(v, memo) for v in value)
    else:
        n = 1
    memo[id(value)] = n
    return n


def expand(value: Any) -> list[Any]:
    """A list at any level expands: mappings form the cartesian product of their keys'
    variants, lists concatenate the variants of their items."""
    if isinstance(value, dict):
        keys = list(value)
        variants = [expand(value[k]) for k in keys]
        return [dict(zip(keys, combo)) for combo in itertools.product(*variants)]
    if isinstance(value, list):
        return [variant for item in value for variant in expand(item)]
    return [value]


def parse_duration(value: Any, where: str) -> float | None:
    """Seconds from 90, 90.5, "90s", "10m" or "2h"; None/0 means no limit."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SuiteError(f"{where}: expected seconds or a duration like '10m', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
        if not match:
            raise SuiteError(f"{where}: expected seconds or a duration like '90s', '10m', '2h', got {value!r}")
        seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not math.isfinite(seconds):
        raise SuiteError(f"{where}: {value!r} is not a finite number of seconds; give e.g. '10m', or 0 for none")
    if seconds < 0:
        raise SuiteError(f"{where}: a timeout cannot be negative")
    return seconds or None


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses what would silently change a suite: a key given twice in one
    mapping (YAML would keep the last) and keys that are not text (``1:``, ``yes:``, ``null:``)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' merges are fine; explicit keys win over them
                key = self.construct_object(key_node, deep=True)
                line = f"line {key_node.start_mark.line + 1}"
                if not isinstance(key, str):
                    written = key_node.value if isinstance(key_node, yaml.ScalarNode) else key
                    raise SuiteError(f"{{path}}: {line}: key {written} is read as {type(key).__name__} "
                                     f"{key!r}, not text; quote it: '{written}':")
                if key in seen:
                    raise SuiteError(f"{{path}}: {line}: key {key!r} appears twice in one mapping "
                                     f"(first at line {seen[key].start_mark.line + 1}); keep one")
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values in ``node`` after alias expansion (each alias counted as often as it is used)."""
    if id(node) not in memo:
        memo[id(node)] = 0  # a recursive alias counts once
        children: list = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += _nodes(child, memo)
            if total > MAX_YAML_NODES:
                break
        memo[id(node)] = total
    return memo[id(node)]


def parse_yaml(text: str, where: str) -> Any:
    """``text`` as YAML; SuiteError for invalid syntax, duplicate or non-text keys, and
    aliases that expand to more than MAX_YAML_NODES values."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _nodes(node, {}) > MAX_YAML_NODES:
            raise SuiteError(f"{where}: YAML aliases expand to over {MAX_YAML_NODES:,} values; "
                             "write the suite without nested aliases")
        return loader.construct_document(node) if node is not None else None
    except SuiteError as exc:
        raise SuiteError(str(exc).replace("{path}", where)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at_ = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(f"{where}: invalid YAML{at_}: {problem}; fix the syntax") from None
    except RecursionError:
        raise SuiteError(f"{where}: YAML nested too deeply; flatten the suite") from None
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> Any:
    # A directory, a FIFO or a device (/dev/urandom) is no suite: check before opening, and
    # read at most MAX_SUITE_BYTES + 1 so that nothing can make the read hang or balloon.
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise SuiteError(f"suite file {str(path)!r} is {kind}; give the path of a .yaml file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SUITE_BYTES + 1)
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {str(path)!r}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SUITE_BYTES:
        raise SuiteError(f"suite file {str(path)!r} is over {MAX_SUITE_BYTES >> 20} MiB; a suite is a "
                         "small YAML file: check the path")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SuiteError(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text; "
                         "save the suite as UTF-8") from None
    return parse_yaml(text, str(path))


def _as_list(value: Any, where: str, kind: type) -> list:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, kind) or isinstance(item, bool):
            raise SuiteError(f"{where}: expected {kind.__name__} or a list of them, got {item!r}")
    return items


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    if keys[0] == "dataset" and len(keys) > 1 and isinstance(data.get("dataset"), list):
        # A suite of several datasets: the setting applies to each (dataset.train_size=1000).
        for i, item in enumerate(data["dataset"]):
            if isinstance(item, str):
                item = data["dataset"][i] = {"name": item}
            if isinstance(item, dict):
                _set(item, ".".join(keys[1:]), copy.deepcopy(value))
        return
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SuiteError(f"--set {dotted}: {key!r} is not a mapping in the suite")
    node[keys[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> None:
    """``KEY=VALUE`` pairs with dotted keys (``train.epochs=1``); values are parsed as YAML."""
    for item in overrides:
        if "=" not in item:
            raise SuiteError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=1")
        key, _, text = item.partition("=")
        _set(data, key.strip(), parse_yaml(text, f"--set {item}") if text.strip() else None)


def load_suite(
    path: str | Path,
    *,
    plugin_dirs: typing.Iterable[str] = (),
    overrides: typing.Iterable[str] = (),
    registry: Registry | None = None,
    check_devices: bool = True,
    max_runs: int = MAX_RUNS,
) -> Suite:
    """Read, validate and expand a suite. Raises SuiteError (one line) on any problem, a grid
    of more than ``max_runs`` runs included (counted before anything is expanded)."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: a suite must be a YAML mapping with 'name', 'dataset' and 'runs'")
    data = copy.deepcopy(data)
    apply_overrides(data, overrides)
    f = str(path)

    unknown = set(data) - TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SuiteError(f"{f}: {key}: unknown top-level key; {suggest(key, TOP_KEYS)}")
    for key in ("name", "dataset", "runs"):
        if key not in data:
            raise SuiteError(f"{f}: {key}: missing; every suite needs 'name', 'dataset' and 'runs'")
    name = data["name"]
    # The name is the report's folder name, unchanged: no '.'/'..', nothing a folder name
    # would drop (so two names are two folders), not too long for a file system.
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9-])?", name) \
            or len(name) > NAME_LENGTH:
        raise SuiteError(f"{f}: name: expected a word of letters, digits, '-', '_' or '.' that starts with a "
                         f"letter or digit, does not end in '.' or '_' and has at most {NAME_LENGTH} "
                         f"characters, got {name if not isinstance(name, str) else name[:120]!r}")

    plugin_files = plugin_files_in(plugin_dirs)
    for item in _as_list(data.get("plugins", []), f"{f}: plugins", str):
        p = (path.parent / item).resolve()
        if not p.is_file():
            raise SuiteError(f"{f}: plugins: {item!r} not found (paths are relative to the suite file)")
        plugin_files.append(str(p))
    registry = registry or load_registry(plugin_files)
    # A plugin file the suite asks for must load: a silently missing model is worse than an
    # error. Broken *installed* plugins only matter to suites that use what they provide.
    for failure in registry.failures:
        if failure.plugin in plugin_files:
            raise SuiteError(
                f"plugin file {failure.plugin!r} failed to load: {failure.error}; fix it or "
                "remove it from the suite's plugins: / --plugins-dir"
            )

    # datasets: one mapping, or a list of them (every run on each, e.g. several UCR problems)
    several = isinstance(data["dataset"], list)
    if several and not data["dataset"]:
        raise SuiteError(f"{f}: dataset: empty list; give a mapping like {{name: synthetic}} or a list of them")
    datasets = [_dataset(d, f"{f}: dataset[{i}]" if several else f"{f}: dataset", registry, path)
                for i, d in enumerate(data["dataset"] if several else [data["dataset"]])]

    # training recipe
    train = data.get("train") or {}
    if not isinstance(train, dict):
        raise SuiteError(f"{f}: train: expected a mapping like {{epochs: 5, lr: 0.1}}")
    check_params(train, TRAIN_TYPES, False, f"{f}: train", "train")
    train = {**TRAIN_DEFAULTS, **train}

    seeds = _seeds(data.get("seeds", [0]), f"{f}: seeds")
    devices = _as_list(data.get("devices", ["cpu"]), f"{f}: devices", str)
    devices = [_resolve_device(d, f, check_devices) for d in devices]
    timeout = parse_duration(data.get("timeout"), f"{f}: timeout")
    threads = data.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                or not 1 <= threads <= 4096):
        raise SuiteError(f"{f}: threads: expected a positive integer, got {threads!r}")
    top_checks = validity.settings(data.get("validity"), None, f"{f}: validity", "")
    if top_checks is not None:
        _check_solver(top_checks["reference"], f"{f}: validity.reference", registry)
    save_weights = data.get("save_weights", True)
    if not isinstance(save_weights, bool):
        raise SuiteError(f"{f}: save_weights: expected true or false, got {save_weights!r}")

    entries = data["runs"]
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{f}: runs: expected a non-empty list of mappings, each with a 'model'")
    planned: list[tuple[str, dict[str, Any], list[int], Any]] = []
    total = 0
    for i, entry in enumerate(entries):
        where = f"{f}: runs[{i}]"
        if not isinstance(entry, dict) or "model" not in entry:
            raise SuiteError(f"{where}: expected a mapping with a 'model', e.g. {{model: resnet}}")
        # An entry may run on fewer (or other) seeds than the suite, e.g. an expensive solver.
        entry = dict(entry)
        entry_seeds = _seeds(entry.pop("seeds"), f"{where}.seeds") if "seeds" in entry else seeds
        if not entry_seeds:
            raise SuiteError(f"{where}.seeds: empty list; give at least one seed or remove the key")
        # Validity settings are not a grid axis: their lists (refine: [2, 4, 8]) stay lists.
        checks = entry.pop("validity", None)
        planned.append((where, entry, entry_seeds, checks))
        # Sized before anything is expanded: the product of the list lengths.
        total += count(entry) * len(entry_seeds) * len(devices) * len(datasets)
    if total > max_runs:
        raise SuiteError(f"{f}: runs: the grid has {total:,} runs, over the limit of {max_runs:,}; "
                         "shorten its lists, or pass --max-runs N to allow more")
    runs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for dataset in datasets:
        for where, entry, entry_seeds, checks in planned:
            for variant in expand(entry):
                if checks is not None:
                    variant["validity"] = checks
                for config in _resolve_run(variant, where, registry, train, dataset, data.get("validity")):
                    for seed in entry_seeds:
                        for device in devices:
                            full = {**config, "seed": seed, "device": device, "threads": threads,
                                    "suite": name}
                            key = run_key(full)
                            if key not in seen:
                                seen.add(key)
                                runs.append(full)
    if not runs:
        raise SuiteError(f"{f}: runs: the grid expands to no runs (an empty list somewhere?)")
    return Suite(name, str(path), runs, plugin_files, timeout, registry, data, save_weights)


def _dataset(dataset: Any, where: str, registry: Registry, path: Path) -> dict[str, Any]:
    """One dataset mapping of a suite, checked against its loader, defaults filled in."""
    if isinstance(dataset, str):
        dataset = {"name": dataset}
    if not isinstance(dataset, dict) or "name" not in dataset:
        raise SuiteError(f"{where}: expected a mapping with a 'name', e.g. {{name: synthetic}}")
    dataset = dict(dataset)
    if dataset["name"] not in registry.datasets:
        raise SuiteError(
            f"{where}.name: unknown dataset {dataset['name']!r}; {suggest(str(dataset['name']), registry.datasets)}"
        )
    check_dataset_params(registry.datasets[dataset["name"]].obj,
                         {k: v for k, v in dataset.items() if k != "name"}, where, dataset["name"])
    if "path" in dataset and isinstance(dataset["path"], str):
        dataset["path"] = _resolve_data_path(dataset["path"], path)
    return _filled(registry.datasets[dataset["name"]].obj, dataset, skip={"name"})


def _seeds(value: Any, where: str) -> list[int]:
    seeds = _as_list(value, where, int)
    for seed in seeds:
        problem = range_problem(seed, SEED)
        if problem:
            raise SuiteError(f"{where}: a seed {problem} (numpy's seed range), got {seed}")
    return seeds


def _filled(fn: typing.Callable[..., Any], given: dict[str, Any], skip: int | set[str]) -> dict[str, Any]:
    """``given`` over the defaults of ``fn``'s keyword parameters: an omitted setting and its
    explicit default make the same run (and the stored config says what ran). Defaults that
    are not plain data (objects) are left to the plugin."""
    params = list(introspect(fn)[0].parameters.values())
    params = params[skip:] if isinstance(skip, int) else [p for p in params if p.name not in skip]
    defaults = {p.name: p.default for p in params
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
                and _plain(p.default)}
    return {**{k: given[k] for k in ("name",) if k in given}, **defaults, **given}


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _resolve_data_path(value: str, suite_path: Path) -> str:
    expanded = Path(value).expanduser()
    if expanded.is_absolute():
        return str(expanded)
    return str((suite_path.parent / expanded).resolve())


def _resolve_device(device: str, f: str, check: bool) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:\d+)?", device):
        if check and not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            raise SuiteError(
                f"{f}: devices: {device!r} requested but no CUDA GPU is available "
                f"(torch {torch.__version__}, {build}); use devices: [cpu] or [auto]"
            )
        return device
    raise SuiteError(f"{f}: devices: unknown device {device!r}; use cpu, cuda, cuda:N or auto")


def _resolve_run(
    variant: dict[str, Any], where: str, registry: Registry, train: dict, dataset: dict,
    top_validity: Any = None,
) -> list[dict[str, Any]]:
    model = variant["model"]
    if not isinstance(model, str) or model not in registry.models:
        raise SuiteError(f"{where}.model: unknown model {model!r}; {suggest(str(model), registry.models)}")
    factory = registry.models[model].obj
    accepted, var_kw = param_types(factory, skip={"shape", "solver"})
    takes_solver = "solver" in introspect(factory)[0].parameters
    params = {k: v for k, v in variant.items() if k not in RUN_RESERVED}
    check_params(params, accepted, var_kw, where, f"model {model!r}")

    overrides = variant.get("train") or {}
    if not isinstance(overrides, dict):
        raise SuiteError(f"{where}.train: expected a mapping of training settings to override")
    check_params(overrides, TRAIN_TYPES, False, f"{where}.train", "train")

    solver = variant.get("solver")
    if solver is not None and not takes_solver:
        raise SuiteError(f"{where}.solver: model {model!r} takes no solver; remove the key")
    if solver is None and takes_solver:
        default = introspect(factory)[0].parameters["solver"].default
        solver = default if isinstance(default, (str, dict)) else None
    if solver is not None:
        solver = _check_solver(solver, f"{where}.solver", registry)

    # Evaluation may use other solver options (e.g. a looser tolerance) than training.
    eval_solver = variant.get("eval_solver")
    if eval_solver is not None:
        if "eval_solver" not in introspect(factory)[0].parameters or solver is None:
            raise SuiteError(f"{where}.eval_solver: model {model!r} takes no eval_solver; remove the key")
        if not isinstance(eval_solver, dict):
            raise SuiteError(f"{where}.eval_solver: expected a mapping of solver options, e.g. {{rtol: 1.0e-2}}")
        base = solver if eval_solver.get("name", solver["name"]) == solver["name"] else {}
        eval_solver = _check_solver({**base, **eval_solver}, f"{where}.eval_solver", registry)
    # Plugin defaults filled in (see _filled); ``explicit`` keeps what the suite wrote, which
    # the labels show and the run key leaves out.
    explicit: dict[str, list[str]] = {"params": sorted(params)}
    config = {
        "model": model,
        "params": _filled(factory, params, skip={"shape", "solver", "eval_solver"}),
        "solver": solver,
        "dataset": dataset,
        "train": {**train, **overrides},
    }
    if solver is not None:
        explicit["solver"] = sorted(k for k in solver if k != "name")
        config["solver"] = _filled(registry.solvers[solver["name"]].obj, solver, skip=3)
    if eval_solver is not None:
        explicit["eval_solver"] = sorted(k for k in eval_solver if k != "name")
        config["eval_solver"] = _filled(registry.solvers[eval_solver["name"]].obj, eval_solver, skip=3)
    # Only where the suite sets it (and the run has a solver to swap): the defaults leave the
    # config, and so the run key, as it was.
    if variant.get("validity") is not None and solver is None:
        raise SuiteError(f"{where}.validity: model {model!r} takes no solver, so it has no ODE to check; "
                         "remove the key")
    checks = validity.settings(top_validity, variant.get("validity"), where.split(": runs[")[0] + ": validity",
                               f"{where}.validity")
    if checks is not None and solver is not None:
        reference = _check_solver(checks["reference"], f"{where}.validity.reference", registry)
        accepted, _ = param_types(registry.solvers[reference["name"]].obj, skip=3)
        config["validity"] = {**checks, "reference": validity.with_tight_tolerance(reference, accepted)}
    config["explicit"] = explicit
    return [config]


def _check_solver(solver: Any, where: str, registry: Registry) -> dict[str, Any]:
    if isinstance(solver, str):
        solver = {"name": solver}
    if not isinstance(solver, dict) or "name" not in solver:
        raise SuiteError(f"{where}: expected a name or a mapping with a 'name', e.g. {{name: rk4, steps: 4}}")
    if solver["name"] not in registry.solvers:
        raise SuiteError(
            f"{where}.name: unknown solver {solver['name']!r}; {suggest(str(solver['name']), registry.solvers)}"
        )
    accepted, var_kw = param_types(registry.solvers[solver["name"]].obj, skip=3)
    check_params({k: v for k, v in solver.items() if k != "name"}, accepted, var_kw, where,
                 f"solver {solver['name']!r}")
    return solver
