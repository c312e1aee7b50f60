"""Constituent inputs of the constituent network (``DNNConfig.inputs = "constituents"``,
docs/method.md#constituent-network): padded per-jet tensors and masks built once from the
jagged ``cl_*``/``trk_*`` columns, and the one flat layout in which they travel with the 21
jet inputs through training, ``calibrate`` and the runtimes.

Torch-free (numpy and awkward), in ``features`` so that the onnxruntime runtime uses it without torch.

Flat layout of one jet (``float32``, :class:`ConstituentLayout`)::

    [ F jet inputs | K_c × F_c clusters | K_c cluster mask | K_t × F_t tracks | K_t track mask ]

clusters in :data:`~jetcalib.io.CLUSTER_COLUMNS` order, hardest first, tracks in
:data:`~jetcalib.io.TRACK_COLUMNS` order, highest pT first; padding is 0 with mask 0. The raw
values (GeV, rad, mm) are stored: the feature transforms and their normalisation are inside the
network (and so inside an ONNX export).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.schema import CLUSTER_COLUMNS, TRACK_COLUMNS

__all__ = ["MISSING_CONSTITUENTS", "ConstituentLayout", "concatenate_columns", "constituent_blocks",
           "constituents_to_gev", "packed_inputs", "require_constituents"]

#: The one-line refusal of a table without the constituent columns.
MISSING_CONSTITUENTS = "this model reads constituent columns cl_*/trk_*: generate with --constituents"


@dataclass(frozen=True)
class ConstituentLayout:
    """Sizes of the flat per-jet layout: ``n_features`` jet inputs, ``max_clusters`` (K_c)
    clusters of ``len(CLUSTER_COLUMNS)`` (F_c) values, ``max_tracks`` (K_t) tracks of
    ``len(TRACK_COLUMNS)`` (F_t) values."""

    n_features: int
    max_clusters: int
    max_tracks: int

    @property
    def cluster_columns(self) -> tuple[str, ...]:
        return CLUSTER_COLUMNS

    @property
    def track_columns(self) -> tuple[str, ...]:
        return TRACK_COLUMNS if self.max_tracks > 0 else ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The jagged columns read (tracks only when K_t > 0)."""
        return self.cluster_columns + self.track_columns

    @property
    def width(self) -> int:
        """Values per jet in the flat layout."""
        kc, kt = self.max_clusters, self.max_tracks
        return self.n_features + kc * (len(CLUSTER_COLUMNS) + 1) + kt * (len(TRACK_COLUMNS) + 1)

    def slices(self) -> dict[str, slice]:
        """Where each block lies in the flat layout: ``features``, ``clusters``,
        ``cluster_mask``, ``tracks``, ``track_mask``."""
        kc, kt, fc, ft = self.max_clusters, self.max_tracks, len(CLUSTER_COLUMNS), len(TRACK_COLUMNS)
        edges = np.cumsum([0, self.n_features, kc * fc, kc, kt * ft, kt])
        names = ("features", "clusters", "cluster_mask", "tracks", "track_mask")
        return {n: slice(int(a), int(b)) for n, a, b in zip(names, edges[:-1], edges[1:], strict=True)}

    def unpack(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Flat rows ``[N, width]`` → ``features [N, F]``, ``clusters [N, K_c, F_c]``,
        ``cluster_mask [N, K_c]``, ``tracks [N, K_t, F_t]``, ``track_mask [N, K_t]`` (views)."""
        s = self.slices()
        n = flat.shape[0]
        return {"features": flat[:, s["features"]],
                "clusters": flat[:, s["clusters"]].reshape(n, self.max_clusters, len(CLUSTER_COLUMNS)),
                "cluster_mask": flat[:, s["cluster_mask"]],
                "tracks": flat[:, s["tracks"]].reshape(n, self.max_tracks, len(TRACK_COLUMNS)),
                "track_mask": flat[:, s["track_mask"]]}

    def to_dict(self) -> dict[str, Any]:
        """The layout as an ONNX metadata property / sidecar entry describes it."""
        return {"n_features": self.n_features, "max_clusters": self.max_clusters,
                "max_tracks": self.max_tracks, "cluster_columns": list(CLUSTER_COLUMNS),
                "track_columns": list(TRACK_COLUMNS)}


def _names(table: Any) -> list[str]:
    from ..features.table import _column_names

    return _column_names(table)


def _padded(table: Any, names: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """``values [N, k, len(names)]`` (float32, 0 past the end) and ``mask [N, k]`` (float32 0/1)
    of the jagged columns ``names``; the count of each jet's first column sets its mask.

    Built once per table with whole-array awkward operations (pad, fill, to_numpy), no
    per-jet Python."""
    import awkward as ak

    def as_awkward(values: Any) -> Any:
        if isinstance(values, ak.Array):
            return values
        if isinstance(values, np.ndarray) and values.dtype == object:  # a DataFrame's lists
            return ak.from_iter(values.tolist())
        return ak.Array(values)

    arrays = [as_awkward(table[c]) for c in names]
    n = len(arrays[0])
    out = np.zeros((n, k, len(names)), dtype=np.float32)
    counts = np.asarray(ak.num(arrays[0], axis=1), dtype=np.int64)
    for j, (name, arr) in enumerate(zip(names, arrays, strict=True)):
        if arr.ndim != 2:
            raise InputError(f"jet table: column {name} is not one list per jet")
        if not np.array_equal(np.asarray(ak.num(arr, axis=1)), counts):
            raise InputError(f"jet table: column {name} has other list lengths than {names[0]}")
        # None (a null list or element) becomes NaN: the jet is flagged NON_FINITE_INPUT
        arr = ak.fill_none(arr, np.nan, axis=-1)
        padded = ak.fill_none(ak.pad_none(arr, k, axis=1, clip=True), 0.0)
        out[:, :, j] = ak.to_numpy(padded).astype(np.float32, copy=False)
    mask = (np.arange(k)[None, :] < counts[:, None]).astype(np.float32)
    return out, mask


def constituent_blocks(table: Any, layout: ConstituentLayout) -> dict[str, np.ndarray]:
    """``clusters [N, K_c, F_c]``, ``cluster_mask [N, K_c]``, ``tracks [N, K_t, F_t]``,
    ``track_mask [N, K_t]`` (float32) of a table's jagged constituent columns (a dict of
    awkward arrays, an awkward Array of records or a pandas DataFrame of lists). A table
    without them: :class:`InputError` (:data:`MISSING_CONSTITUENTS`)."""
    present = set(_names(table))
    if not set(layout.columns) <= present:
        raise InputError(MISSING_CONSTITUENTS)
    clusters, cmask = _padded(table, CLUSTER_COLUMNS, layout.max_clusters)
    if layout.max_tracks > 0:
        tracks, tmask = _padded(table, TRACK_COLUMNS, layout.max_tracks)
    else:
        n = clusters.shape[0]
        tracks, tmask = np.zeros((n, 0, len(TRACK_COLUMNS)), np.float32), np.zeros((n, 0), np.float32)
    return {"clusters": clusters, "cluster_mask": cmask, "tracks": tracks, "track_mask": tmask}


def packed_inputs(features: np.ndarray, table: Any, layout: ConstituentLayout) -> np.ndarray:
    """The flat layout ``float32[N, layout.width]``: the raw jet inputs ``features [N, F]``
    followed by the table's constituent blocks (:func:`constituent_blocks`). A non-finite
    constituent value stays non-finite, so that the jet is flagged (docs/flags.md)."""
    b = constituent_blocks(table, layout)
    n = features.shape[0]
    if b["clusters"].shape[0] != n:
        raise InputError(f"jet table: {b['clusters'].shape[0]} constituent lists for {n} jets")
    return np.concatenate([np.asarray(features, dtype=np.float32), b["clusters"].reshape(n, -1), b["cluster_mask"],
                           b["tracks"].reshape(n, -1), b["track_mask"]], axis=1)


def require_constituents(present: Iterable[str], columns: Iterable[str], source: str) -> None:
    """Refuse (one :class:`InputError` line, :data:`MISSING_CONSTITUENTS`) a table ``source``
    whose columns ``present`` lack one of the constituent ``columns`` a model reads."""
    if not set(columns) <= set(present):
        raise InputError(f"{source}: {MISSING_CONSTITUENTS}")


def constituents_to_gev(columns: dict[str, Any], units: str) -> dict[str, Any]:
    """The jagged constituent columns with energies (``cl_e``, ``trk_pt``) in GeV for a table in
    ``units`` (``"GeV"``: unchanged; ``"MeV"``: / 1000), awkward arrays kept."""
    from ..io.schema import CONSTITUENT_COLUMNS
    from ..io.units import MEV_PER_GEV, check_units

    if check_units(units) == "GeV":
        return dict(columns)
    return {k: v / MEV_PER_GEV if CONSTITUENT_COLUMNS[k].unit == "GeV" else v for k, v in columns.items()}


def concatenate_columns(parts: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Tables' columns one after the other: numpy for flat columns, awkward for jagged ones."""
    import awkward as ak

    out: dict[str, Any] = {}
    for c in names:
        values = [p[c] for p in parts]
        jagged = any(isinstance(v, ak.Array) for v in values)
        out[c] = ak.concatenate(values) if jagged else np.concatenate(values)
    return out
