"""Per-feature input normalisation ``x_norm = x · scale + offset``, fitted on the training set.

The affine form is exactly what ATLAS's deployed runtime applies outside the ONNX graph
(``NormScale``/``NormOffset``, docs/method.md#atlas-runtime), so an exported model can be used there unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import ArtifactError

__all__ = ["NormMethod", "Normalisation"]

NormMethod = Literal["robust", "minmax"]


@dataclass(frozen=True)
class Normalisation:
    """Affine per-feature normalisation.

    ``scale`` and ``offset`` are ``float64[F]`` in the order of ``features``.
    ``robust``: (x − median) / IQR; ``minmax``: the training range mapped onto [−1, 1].
    """

    features: tuple[str, ...]
    scale: np.ndarray
    offset: np.ndarray
    method: str = "robust"

    @classmethod
    def fit(cls, x: np.ndarray, features: Sequence[str], method: NormMethod = "robust") -> Normalisation:
        """Fit on ``x`` (``[N, F]``); non-finite entries are ignored.

        A constant feature gets scale 1 (its spread would divide by zero) and is only shifted.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(features):
            raise ValueError(f"x has shape {x.shape}, expected [N, {len(features)}]")
        scale = np.ones(x.shape[1])
        offset = np.zeros(x.shape[1])
        for i in range(x.shape[1]):
            col = x[:, i][np.isfinite(x[:, i])]
            if col.size == 0:
                continue
            if method == "robust":
                q25, q50, q75 = np.percentile(col, [25, 50, 75])
                spread, centre = q75 - q25, q50
                if not spread > 1e-12:  # discrete/constant features: fall back to the std
                    spread = float(np.std(col))
                s = 1.0 / spread if spread > 1e-12 else 1.0
                scale[i], offset[i] = s, -centre * s
            elif method == "minmax":
                lo, hi = float(col.min()), float(col.max())
                s = 2.0 / (hi - lo) if hi - lo > 1e-12 else 1.0
                scale[i], offset[i] = s, -1.0 - lo * s
            else:
                raise ValueError(f"unknown normalisation method {method!r}")
        return cls(tuple(features), scale, offset, method)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalised ``float32[N, F]``."""
        x = np.asarray(x)
        return (x.astype(np.float64) * self.scale + self.offset).astype(np.float32)

    def invert(self, x_norm: np.ndarray) -> np.ndarray:
        """Raw features back from normalised ones (``float64[N, F]``)."""
        return (np.asarray(x_norm, dtype=np.float64) - self.offset) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "features": list(self.features),
            "scale": [float(v) for v in self.scale],
            "offset": [float(v) for v in self.offset],
        }

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<normalisation>") -> Normalisation:
        try:
            feats = tuple(str(f) for f in raw["features"])
            scale = np.asarray(raw["scale"], dtype=np.float64)
            offset = np.asarray(raw["offset"], dtype=np.float64)
            method = str(raw.get("method", "robust"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: invalid normalisation ({exc})") from None
        if not (len(feats) == scale.size == offset.size) or not np.all(np.isfinite(scale)):
            raise ArtifactError(f"{source}: normalisation has inconsistent or non-finite entries")
        return cls(feats, scale, offset, method)
