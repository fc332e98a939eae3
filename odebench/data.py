"""``odebench data describe NAME``: samples per class per split of any registered dataset, and
how they compare with the reference counts the loader reports (``info["reference_counts"]``,
e.g. the Kaggle files' totals for ``mitbih``). ``odebench data plot NAME``: example beats per
class and the class balance as PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .types import OdebenchError

SPLITS = ("train", "test", "all")


def describe(registry, name: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], dict, dict]:
    """Rows ``{split, class, count}`` (classes, then ``all``), the reference counts
    ``{reference: {split: {class: count}}}`` and the dataset's info."""
    import numpy as np

    data = _load(registry, name, params, "data describe")
    k = len(data.class_names)
    counts = {split: np.bincount(getattr(data, f"y_{split}").numpy(), minlength=k)
              for split in ("train", "test")}
    counts["all"] = counts["train"] + counts["test"]
    rows = []
    for split in SPLITS:
        for i, cls in enumerate(data.class_names):
            rows.append({"split": split, "class": cls, "count": int(counts[split][i])})
        rows.append({"split": split, "class": "all", "count": int(counts[split].sum())})
    references = data.info.get("reference_counts") or {}
    return rows, references, data.info


def to_markdown(name: str, params: dict[str, Any], rows: list[dict], references: dict) -> str:
    from tabulate import tabulate

    headers = ["split", "class", "count"]
    for ref in references:
        headers += [ref, f"count - {ref}", "%"]
    table = []
    for row in rows:
        line: list[Any] = [row["split"], row["class"], row["count"]]
        for ref in references.values():
            part = ref.get(row["split"])
            value = None
            if part is not None:
                value = sum(part.values()) if row["class"] == "all" else part.get(row["class"])
            if value is None:
                line += ["", "", ""]
            else:
                diff = row["count"] - value
                line += [value, f"{diff:+d}", f"{100 * diff / value:+.2f}" if value else ""]
        table.append(line)
    title = " ".join([f"## {name}"] + [f"{k}={v}" for k, v in params.items()])
    return f"{title}\n\n{tabulate(table, headers=headers, tablefmt='github')}\n"


def _params(args) -> dict[str, Any]:
    """The dataset params of ``--param KEY=VALUE`` (values parsed as YAML) and ``--split``."""
    import yaml

    params: dict[str, Any] = {}
    for item in args.param or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise OdebenchError(f"--param {item!r}: expected KEY=VALUE, e.g. --param path=data/mitdb")
        params[key.strip()] = yaml.safe_load(text) if text.strip() else None
    if args.split:
        params["split"] = args.split
    return params


def _load(registry, name: str, params: dict[str, Any], where: str):
    """The dataset ``name`` loaded with ``params``, checked against its loader first."""
    from .binding import load_dataset
    from .params import check_dataset_params, suggest

    if name not in registry.datasets:
        raise OdebenchError(f"unknown dataset {name!r}; {suggest(name, registry.datasets)}")
    check_dataset_params(registry.datasets[name].obj, params, where, name)
    return load_dataset(registry, {"name": name, **params}, measurable=False)  # to look at, not to train on


def plot(registry, name: str, params: dict[str, Any], out: str | Path, per_class: int = 12) -> list[Path]:
    """Write ``beats.png`` (``per_class`` example beats of each class, overlaid, and the class
    mean) and ``class_balance.png`` (samples per class, train and test) into ``out``."""
    import numpy as np

    from .report.data_plots import balance, beats

    data = _load(registry, name, params, "data plot")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    title = " ".join([name] + [f"{k}={v}" for k, v in params.items()])
    k = len(data.class_names)
    counts = {split: np.bincount(getattr(data, f"y_{split}").numpy(), minlength=k)
              for split in ("train", "test")}
    # Examples come from the train split, as a model sees them.
    x, y = data.x_train.numpy(), data.y_train.numpy()
    hz = data.info.get("sampling_hz")
    return [beats(x, y, data.class_names, folder / "beats.png", title, per_class, hz),
            balance(counts, data.class_names, folder / "class_balance.png", title)]


def cmd_plot(args) -> int:
    from .plugins import registry_for
    from .report import safe_name

    if args.per_class < 1:
        raise OdebenchError(f"--per-class {args.per_class}: give at least 1")
    out = args.out or Path(args.results) / "data" / safe_name(args.name)
    try:
        written = plot(registry_for(args.plugins_dir or []), args.name, _params(args), out,
                       args.per_class)
    except OSError as exc:
        raise OdebenchError(f"cannot write the plots to {str(out)!r} ({exc.strerror}); "
                            "pass --out DIR") from None
    for path in written:
        print(path)
    return 0


def cmd_describe(args) -> int:
    from .plugins import registry_for

    params = _params(args)
    rows, references, info = describe(registry_for(args.plugins_dir or []), args.name, params)
    if args.format == "csv":
        sys.stdout.write("split,class,count\n")
        sys.stdout.writelines(f"{r['split']},{r['class']},{r['count']}\n" for r in rows)
        return 0
    print(to_markdown(args.name, params, rows, references))
    if info.get("source"):
        print(f"source: {info['source']}")
    notes = {k: v for k, v in info.items() if k.startswith("dropped")}
    for key, value in notes.items():
        print(f"{key.replace('_', ' ')}: {value}")
    return 0


def _dataset_arguments(d: argparse.ArgumentParser) -> None:
    """The dataset selection both ``data`` subcommands take."""
    d.add_argument("name", help="dataset name (see odebench plugins)")
    d.add_argument("--split", help="the dataset's split param, e.g. kaggle or inter-patient")
    d.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a dataset param (value parsed as YAML), e.g. --param path=../data/mitdb")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect datasets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    d = data_sub.add_parser("describe", help="samples per class per split of a registered dataset "
                            "and how they compare with its reference counts")
    _dataset_arguments(d)
    d.add_argument("--format", choices=["md", "csv"], default="md")
    d.add_argument("--plugins-dir", action="append", metavar="DIR", help="load *.py plugins from DIR")
    d.set_defaults(func=cmd_describe)

    d = data_sub.add_parser("plot", help="PNGs of a dataset: example beats per class (overlaid, "
                            "with the class mean) and the class balance of train and test")
    _dataset_arguments(d)
    d.add_argument("--per-class", type=int, default=12, metavar="N",
                   help="example beats drawn per class (default 12)")
    d.add_argument("--out", metavar="DIR", help="folder for the PNGs (default: "
                   "<results>/data/<dataset>/)")
    d.add_argument("--results", default="results", help="results directory (default: results)")
    d.add_argument("--plugins-dir", action="append", metavar="DIR", help="load *.py plugins from DIR")
    d.set_defaults(func=cmd_plot)
