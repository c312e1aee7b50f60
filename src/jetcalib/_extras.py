"""The optional dependency groups ("extras") and the one-line install hint for a missing one.

The core install reads and writes tables and calibrates with an ONNX export, a correctionlib
file or a numerical calibration; generating, training and plotting need an extra each
(``pip install 'jetcalib[sim]'``, ``[train]``, ``[eval]``, ``[dask]``, or ``[all]``).
"""

from __future__ import annotations

__all__ = ["EXTRA_OF", "install_hint"]

#: top-level module → the extra that installs it
EXTRA_OF = {
    "pythia8mc": "sim", "fastjet": "sim", "numba": "sim", "vector": "sim",
    "torch": "train", "lightning": "train",
    "matplotlib": "eval", "hist": "eval", "mplhep": "eval",
    "dask": "dask", "distributed": "dask",
}


def install_hint(exc: ImportError) -> str | None:
    """``"... pip install 'jetcalib[EXTRA]'"`` for a module of an extra that is not installed,
    else None (a missing core module is a broken install, not the user's choice)."""
    top = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return (f"this needs {top}, which is in the optional [{extra}] dependencies: "
            f"pip install 'jetcalib[{extra}]' (or 'jetcalib[all]')")
