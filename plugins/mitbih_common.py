"""What both MIT-BIH dataset plugins (``mitbih``, built from the PhysioNet records, and
``mitbih-csv``, the Kaggle files) share: the AAMI classes, the Kaggle files' class counts and
the cache folder. A helper module, not a plugin: it registers nothing."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

CLASSES = ["N", "S", "V", "F", "Q"]
# Both Kaggle files (Kachuee et al. 2018): the reference the built beats are compared with.
KAGGLE_COUNTS = {
    "train": {"N": 72471, "S": 2223, "V": 5788, "F": 641, "Q": 6431},
    "test": {"N": 18118, "S": 556, "V": 1448, "F": 162, "Q": 1608},
    "all": {"N": 90589, "S": 2779, "V": 7236, "F": 803, "Q": 8039},
}


def cache_root() -> Path:
    """``$ODEBENCH_CACHE_DIR``, default ``~/.cache/odebench``."""
    return Path(os.environ.get("ODEBENCH_CACHE_DIR") or Path.home() / ".cache" / "odebench").expanduser()


def save_cache(path: Path, what: str, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to the ``.npz`` cache file ``path`` atomically; where the cache folder
    cannot be written, warn once and go on without a cache (slower, still correct)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        warnings.warn(f"{what}: cannot write the cache in {path.parent} ({exc.strerror or exc}); "
                      "going on without a cache: set ODEBENCH_CACHE_DIR to a writable folder",
                      RuntimeWarning, stacklevel=2)
