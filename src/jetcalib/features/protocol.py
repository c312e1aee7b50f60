"""The calibration protocol: what every calibration (DNN model, ONNX export, numerical
calibration, correctionlib export) offers, and what :func:`jetcalib.load` returns."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Calibration"]


@runtime_checkable
class Calibration(Protocol):
    """``required_columns``: the jet columns ``calibrate`` reads (derivable ones such as
    ``log_e`` may be absent); ``calibrate(table, units, *, domain, column_map, preset)`` →
    ``e_cal, pt_cal, m_cal, calib_flag`` in the table's structure (a dict of numpy arrays for
    a dict, a DataFrame for a DataFrame, an awkward array for an awkward array)."""

    @property
    def required_columns(self) -> tuple[str, ...]: ...

    def calibrate(self, table: Any, units: str | None = None, *, domain: str = "flag",
                  column_map: Any = None, preset: str | None = None) -> Any: ...
