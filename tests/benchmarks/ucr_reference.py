"""The classic baseline of the UCR/UEA archive, 1-nearest-neighbour with full-window DTW,
computed with aeon on exactly the inputs odebench's models see (the ``ucr`` plugin with each
problem's settings in the suite: z-normalised or not, unequal lengths zero-padded), for the
problems of a suite.
Deterministic (no seed), so one run is the number.

    python tests/benchmarks/ucr_reference.py [--suite suites/ucr.yaml] [--out results/ucr/dtw_reference.csv]

Multivariate problems use dependent DTW (one warping path for all channels, aeon's default
for multichannel series), as DTW_D in Bagnall et al. 2018.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from odebench.binding import load_dataset
from odebench.suite import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="suites/ucr.yaml")
    parser.add_argument("--out", default="results/ucr/dtw_reference.csv")
    args = parser.parse_args()

    import aeon
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    suite = load_suite(args.suite, check_devices=False)
    datasets = {repr(sorted(r["dataset"].items())): r["dataset"] for r in suite.runs}
    rows = []
    for spec in datasets.values():
        data = load_dataset(suite.registry, spec)
        started = time.perf_counter()
        knn = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
        knn.fit(data.x_train.double().numpy(), data.y_train.numpy())
        accuracy = float((knn.predict(data.x_test.double().numpy()) == data.y_test.numpy()).mean())
        rows.append({"problem": spec.get("problem", spec["name"]), "method": "1-NN DTW (full window)",
                     "test_accuracy": round(accuracy, 4), "train": len(data.y_train), "test": len(data.y_test),
                     "seconds": round(time.perf_counter() - started, 1), "aeon": aeon.__version__})
        print(f"{rows[-1]['problem']:>20}: 1-NN DTW {accuracy:.4f} ({rows[-1]['seconds']} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
