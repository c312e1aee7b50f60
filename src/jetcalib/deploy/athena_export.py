"""Export a DNN for ATLAS's athena runtime ``JetDNNCalibStep`` (JetCalibTools): one ONNX graph
whose outputs are the *complete* responses (network × residual closure × jetcalib's mass
fallbacks) and the ``DNN.yaml`` that configures it (docs/method.md#atlas-runtime).

What ``JetDNNCalibStep::calibrate`` does (athena, src/JetDNNCalibStep.cxx), and therefore what
the files are made for:

- per input i: ``x_norm = v · EScale · NormScale + NormOffset`` in float32, where v is the jet
  attribute / event variable in athena's units (MeV); for ``log_e``/``log_m`` v is already
  ``log(x · Scale)`` (the VarTool's own scale) and EScale is not applied again;
- one batch ``input_1`` [N, onnxInputShape] → ``outputE``, ``outputM`` [N, onnxOutputShape];
  element 0 of each row is the response: ``E_cal = E/outputE[:, 0]``, ``m_cal =
  m/outputM[:, 0]``, ``pT_cal = sqrt(E_cal² − m_cal²)/cosh η``; nothing else after the graph.

So everything jetcalib applies after its network is folded into the graph here: the residual
closure (JES polynomial per η bin in ln E, JMS bilinear grid, on the network-calibrated jet),
the mass threshold (``mass_min_reco``: the mass follows the energy) and the ``m_cal ≥ E_cal``
fallback (flag 3). The graph recovers E, m and η from its own normalised inputs ``log_e``,
``log_m`` (athena's unclamped ln m) and ``eta``; jetcalib's ``log_m = ln(max(m, 1 GeV))`` is
applied inside the graph before the network. Columns 1 and 2 of the outputs are 0 for the mode
network (athena reads only column 0); for a probabilistic head (``head: density | quantile |
gaussian``, docs/method.md#heads) they are the network's 15.87/84.13 % quantiles of r_E and r_m
(the true energy lies in [E/outputE[:, 2], E/outputE[:, 1]] with 68 % probability; before the
residual closure, which moves the calibration point, not the spread), 0 where column 0 is 1
(a jet left at reco kinematics).

The jetcalib → ATLAS input names are :data:`ATLAS_INPUT_NAMES` (the one place they are
defined in this module; ``eta``, ``log_e``, ``log_m``, ``mu``, ``NPV`` are athena's built-in
variables, the others jet attributes whose xAOD names are assumed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..features.kinematics import ENERGY_MAX, ETA_MAX, MASS_ENERGY_RTOL
from ..io.presets import athena_input_names

__all__ = ["ATLAS_INPUT_NAMES", "ATLAS_LOG_INPUTS", "athena_config", "athena_onnx_bytes", "check_athena_model",
           "export_athena"]

#: jetcalib input → the name athena's ``InputVars`` uses: the ATLAS names table of
#: :mod:`jetcalib.io.presets` (the one place; ``eta``, ``log_e``, ``log_m``, ``mu``, ``NPV`` are
#: athena's built-in variables, the rest jet attributes of that name).
ATLAS_INPUT_NAMES: dict[str, str] = athena_input_names()

#: athena names whose value is ``log(x · Scale)`` already (JetDNNCalibStep.cxx logScaledVars):
#: EScale is not applied to them again.
ATLAS_LOG_INPUTS: tuple[str, ...] = ("log_e", "log_m", "log_m_cap40")

#: athena's energies are MeV, jetcalib's GeV: the EScale of a GeV-valued input.
MEV_TO_GEV = 1e-3

#: The default file names in the output directory.
ONNX_NAME = "jetcalib_dnn_athena.onnx"
YAML_NAME = "DNN.yaml"

#: Outputs per jet (athena's ``onnxOutputShape``): [response, 0, 0], or [response, q16, q84]
#: for a probabilistic head.
OUTPUT_SHAPE = 3

#: Inputs the graph reads back to fold the post-network steps in.
_NEEDED = ("eta", "log_e", "log_m")


def _escale(name: str) -> float:
    """EScale for jetcalib input ``name``: 1e-3 for GeV and ln GeV inputs (MeV in athena; for
    the log inputs it is the VarTool's Scale: log(x_MeV · 1e-3) = ln x_GeV), else 1."""
    from ..io import COLUMNS

    unit = COLUMNS[name].unit or ""
    return MEV_TO_GEV if unit in ("GeV", "ln GeV") else 1.0


def check_athena_model(model: Any) -> None:
    """Refuse (:class:`~jetcalib.errors.InputError`, one line) a model athena cannot run: a
    constituent network (``inputs: constituents``) reads clusters and tracks besides the 21
    inputs, and ``JetDNNCalibStep`` feeds its graph one ``input_1`` [N, 21]; an oracle model
    reads hidden simulator truth."""
    from .onnx_export import check_not_oracle

    check_not_oracle(model, "export --athena")
    if getattr(model, "layout", None) is not None:
        from ..errors import InputError

        raise InputError("export --athena: this is a constituent network (inputs: constituents); athena's "
                         "JetDNNCalibStep feeds only the 21 jet inputs: export it with jetcalib export "
                         "(ONNX, with the inputs clusters/tracks) instead")


def athena_config(model: Any, onnx_name: str = ONNX_NAME) -> dict[str, Any]:
    """The ``DNN.yaml`` content (a dict) for ``model``; NormScale/NormOffset are the model's
    normalisation (athena's formula x·EScale·NormScale + NormOffset with EScale turning MeV
    into GeV is jetcalib's x_GeV·scale + offset)."""
    check_athena_model(model)
    from ..errors import InputError

    missing = [f for f in model.features if f not in ATLAS_INPUT_NAMES]
    if missing:
        raise InputError(f"no ATLAS name for the inputs {', '.join(missing)}")
    norm = model.normalisation
    return {
        "ONNXInput": onnx_name,
        "onnxInputShape": len(model.features),
        "onnxOutputShape": OUTPUT_SHAPE,
        "InputVars": [ATLAS_INPUT_NAMES[f] for f in model.features],
        "EScales": [_escale(f) for f in model.features],
        "NormOffsets": [float(v) for v in norm.offset],
        "NormScales": [float(v) for v in norm.scale],
    }


def _tensor(values: Any, dtype: Any) -> Any:
    import torch

    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=dtype)


def _bin_index(v: Any, interior: Any) -> Any:
    """numerical.binning.bin_index (searchsorted right − 1, clamped to the edge bins) as the
    count of interior edges ≤ v: Greater/Not/Sum in ONNX."""
    import torch

    return (v.unsqueeze(1) >= interior.unsqueeze(0)).to(torch.int64).sum(dim=1)


def _wrapped(model: Any) -> Any:
    import torch

    from ..errors import InputError

    feats = list(model.features)
    missing = [f for f in _NEEDED if f not in feats]
    if missing:
        raise InputError(f"the athena export needs the inputs {', '.join(missing)} "
                         "(the graph reads E, m and η back from them)")
    idx = {f: feats.index(f) for f in _NEEDED}
    scale = np.asarray(model.normalisation.scale, dtype=np.float64)
    offset = np.asarray(model.normalisation.offset, dtype=np.float64)
    f64 = torch.float64
    residual = model.residual
    mass_min = float(model.config.mass_min_reco)

    class _Athena(torch.nn.Module):
        """input_1 [N, F] (athena-normalised) → outputE, outputM [N, 3], column 0 the total
        responses jetcalib applies."""

        # registered buffers (declared for the type checker)
        scale: torch.Tensor
        offset: torch.Tensor
        jes_interior: torch.Tensor
        jes_coef: torch.Tensor
        jes_lo: torch.Tensor
        jes_hi: torch.Tensor
        jms_interior: torch.Tensor
        jms_x: torch.Tensor
        jms_y: torch.Tensor
        jms_x_in: torch.Tensor
        jms_y_in: torch.Tensor
        jms_values: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.net = model.net
            self.probabilistic = getattr(model.net, "head", "mode") != "mode"
            i = idx["log_m"]
            # jetcalib's log_m = ln(max(m, 1 GeV)): in normalised units max/min with offset
            self.logm_floor = float(np.float32(offset[i]))
            self.logm_up = bool(scale[i] > 0)
            self.register_buffer("scale", _tensor(scale, f64))
            self.register_buffer("offset", _tensor(offset, f64))
            self.has_res = residual is not None
            self.has_jms = self.has_res and residual.jms is not None
            if self.has_res:
                jes = residual.jes
                kmax = max(len(b.coef) for b in jes.bins)
                coef = np.zeros((len(jes.bins), kmax))
                for k, b in enumerate(jes.bins):
                    coef[k, : len(b.coef)] = b.coef
                self.kmax = kmax
                self.signed_eta = bool(jes.signed_eta)
                self.register_buffer("jes_interior", _tensor(jes.eta_edges[1:-1], f64))
                self.register_buffer("jes_coef", _tensor(coef, f64))
                self.register_buffer("jes_lo", _tensor([b.lo for b in jes.bins], f64))
                self.register_buffer("jes_hi", _tensor([b.hi for b in jes.bins], f64))
            if self.has_jms:
                jms = residual.jms
                self.nx, self.ny = len(jms.x_nodes), len(jms.y_nodes)
                self.register_buffer("jms_interior", _tensor(jms.eta_edges[1:-1], f64))
                self.register_buffer("jms_x", _tensor(jms.x_nodes, f64))
                self.register_buffer("jms_y", _tensor(jms.y_nodes, f64))
                self.register_buffer("jms_x_in", _tensor(jms.x_nodes[1:-1], f64))
                self.register_buffer("jms_y_in", _tensor(jms.y_nodes[1:-1], f64))
                self.register_buffer("jms_values", _tensor(np.asarray(jms.values).ravel(), f64))
                self.jms_min = float(jms.min_energy)
                self.jms_max = None if jms.max_energy is None else float(jms.max_energy)

        def _raw(self, x: torch.Tensor, name: str) -> torch.Tensor:
            i = idx[name]
            return (x[:, i].to(f64) - self.offset[i]) / self.scale[i]

        def _jes(self, e: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
            v = eta if self.signed_eta else eta.abs()
            b = _bin_index(v, self.jes_interior)
            lo, hi = self.jes_lo[b], self.jes_hi[b]
            xl = torch.log(e)
            xc = torch.minimum(torch.maximum(xl, lo), hi)
            u = (2 * xc - (lo + hi)) / (hi - lo)
            coef = self.jes_coef[b]
            out = torch.zeros_like(u)
            for k in range(self.kmax - 1, -1, -1):
                out = out * u + coef[:, k]
            return out

        def _axis(self, v: torch.Tensor, nodes: torch.Tensor, interior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            v = torch.minimum(torch.maximum(v, nodes[0]), nodes[-1])
            i = _bin_index(v, interior)
            t = (v - nodes[i]) / (nodes[i + 1] - nodes[i])
            return i, t

        def _jms(self, e: torch.Tensor, m: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
            xl = torch.log(e)
            yl = torch.log(m) - xl
            g = _bin_index(eta.abs(), self.jms_interior)
            ix, tx = self._axis(xl, self.jms_x, self.jms_x_in)
            iy, ty = self._axis(yl, self.jms_y, self.jms_y_in)
            base = g * (self.nx * self.ny)

            def at(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
                return self.jms_values[base + a * self.ny + b]

            return (at(ix, iy) * (1 - tx) * (1 - ty) + at(ix + 1, iy) * tx * (1 - ty)
                    + at(ix, iy + 1) * (1 - tx) * ty + at(ix + 1, iy + 1) * tx * ty)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            i = idx["log_m"]
            col = x[:, i]
            floor = torch.full_like(col, self.logm_floor)
            col = torch.maximum(col, floor) if self.logm_up else torch.minimum(col, floor)
            xn = torch.cat([x[:, :i], col.unsqueeze(1), x[:, i + 1:]], dim=1)
            if self.probabilistic:
                d = self.net.distribution(xn)
                log_r_e, log_r_m = d["cal_e"], d["cal_m"]
                quantiles = [torch.exp(d[k].to(f64)) for k in ("q16_e", "q84_e", "q16_m", "q84_m")]
            else:
                log_r_e, log_r_m = self.net(xn)
            r_e = torch.exp(log_r_e.to(f64))
            r_m = torch.exp(log_r_m.to(f64))
            e = torch.exp(self._raw(x, "log_e"))
            m = torch.exp(self._raw(x, "log_m"))
            eta = self._raw(x, "eta")
            if self.has_res:  # features.with_residual with NumericalCalibration.responses
                e1, m1 = e / r_e, m / r_m
                res_e = self._jes(e1, eta)
                res_m = res_e
                if self.has_jms:
                    e2, m_jes = e1 / res_e, m1 / res_e
                    mass_ok = e2 > self.jms_min
                    if self.jms_max is not None:
                        mass_ok = mass_ok & (e2 < self.jms_max)
                    res_m = torch.where(mass_ok, res_e * self._jms(e2, m_jes, eta), res_e)
                r_e = r_e * res_e
                r_m = r_m * res_m
            # features.apply_responses: the mass follows the energy below mass_min_reco and
            # where m/r_m >= E/r_E
            follow = (m <= mass_min) | (m * r_e >= e * r_m)
            r_m = torch.where(follow, r_e, r_m)
            # jets jetcalib leaves at reco kinematics (features.out_of_range: flag 5; a
            # non-finite or non-positive response: flag 4) get response 1, so that athena,
            # which divides by whatever the graph says, leaves them as they are too
            keep = ((e <= 0) | (e > ENERGY_MAX) | (m > e * (1.0 + MASS_ENERGY_RTOL)) | (eta.abs() > ETA_MAX)
                    | ~torch.isfinite(r_e) | ~torch.isfinite(r_m) | (r_e <= 0) | (r_m <= 0))
            one = torch.ones_like(r_e)
            r_e = torch.where(keep, one, r_e)
            r_m = torch.where(keep, one, r_m)
            zeros = torch.zeros_like(r_e)
            if self.probabilistic:
                q = [torch.where(keep, zeros, v) for v in quantiles]
                out_e = torch.stack([r_e, q[0], q[1]], dim=1).to(torch.float32)
                out_m = torch.stack([r_m, q[2], q[3]], dim=1).to(torch.float32)
            else:
                out_e = torch.stack([r_e, zeros, zeros], dim=1).to(torch.float32)
                out_m = torch.stack([r_m, zeros, zeros], dim=1).to(torch.float32)
            return out_e, out_m

    return _Athena().eval()


def athena_onnx_bytes(model: Any) -> bytes:
    """The serialised athena graph of ``model`` (see the module docstring), checked with
    ``onnx.checker``; metadata: ``content_hash`` of the source model and a description."""
    check_athena_model(model)
    import onnx

    from .onnx_export import traced_graph

    proto = traced_graph(_wrapped(model), len(model.features), "input_1")
    meta = {"content_hash": model.header.content_hash,
            "jetcalib_version": model.header.jetcalib_version,
            "runtime": "athena JetDNNCalibStep",
            "outputs": ("outputE[:, 0], outputM[:, 0]: total responses (network x residual "
                        "closure, mass fallbacks folded in); E_cal = E/outputE[:, 0], "
                        "m_cal = m/outputM[:, 0]; " + (
                            "columns 1, 2: the 15.87/84.13 % quantiles of the network's r_E, r_m "
                            "(0 where column 0 is 1: a jet left at reco kinematics)"
                            if getattr(model.net, "head", "mode") != "mode" else "columns 1, 2 are 0"))}
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _yaml_text(config: dict[str, Any]) -> str:
    import yaml

    header = ("# JetDNNCalibStep configuration written by jetcalib export --athena\n"
              "# x_norm = v * EScale * NormScale + NormOffset (no EScale for log_e, log_m: the\n"
              "# VarTool Scale = EScale gives log(x_MeV * 1e-3)); E_cal = E / outputE[0],\n"
              "# m_cal = m / outputM[0]\n")
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100)


def export_athena(model: Any, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``DIR/DNN.yaml`` and ``DIR/jetcalib_dnn_athena.onnx`` (created if needed; both
    written atomically together); returns the paths by role (``yaml``, ``onnx``)."""
    from ..io import atomic_paths

    d = Path(directory)
    paths = {"onnx": d / ONNX_NAME, "yaml": d / YAML_NAME}
    config = athena_config(model, ONNX_NAME)
    graph = athena_onnx_bytes(model)  # before the directory: a refused model leaves nothing
    d.mkdir(parents=True, exist_ok=True)
    with atomic_paths(paths.values()) as tmps:
        tmp = dict(zip(paths, tmps, strict=True))
        tmp["onnx"].write_bytes(graph)
        tmp["yaml"].write_text(_yaml_text(config))
    return paths
