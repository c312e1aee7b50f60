"""Export of a :class:`NumericalCalibration` as a correctionlib (schema v2) JSON.

Two corrections, evaluated exactly as jetcalib does (same clamping, same polynomial and
bilinear arithmetic, so correctionlib's evaluator reproduces jetcalib to ~1e-12):

``jes_response(eta, e_reco)``
    R_E; calibrated E = e_reco / R_E (the whole four-vector is scaled).
``jms_response(eta, e_jes, m_jes)``
    R_m at the JES-calibrated energy and mass (e_jes = e_reco/R_E, m_jes = m_reco/R_E);
    calibrated m = m_jes / R_m, applied only where e_jes > the stored threshold (180 GeV by
    default) and only if the result stays below e_jes (else keep m_jes).
``jms_min_energy()``
    that threshold (GeV), a constant with no inputs.
``domain_abs_eta_max()``, ``domain_e_reco_min()``, ``domain_e_reco_max()``
    the training domain (docs/flags.md#training-domain), constants with no inputs; only for a
    calibration that has one (numerical format 1.1), and not in a DNN's residual closure.

``eta`` is the detector η, energies and masses in GeV; inputs must be positive and finite.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..io import atomic_path, content_hash
from .calibration import NumericalCalibration

__all__ = ["RESIDUAL_MARK", "correctionlib_hash", "stored_correctionlib_hash", "to_correctionlib",
           "write_correctionlib"]

# u = (2·clamp(ln E, lo, hi) − (lo + hi)) / (hi − lo), the polynomial's argument; [0]=lo, [1]=hi
_JES_U = "(2*max(min(log(x),[1]),[0])-([0]+[1]))/([1]-[0])"
# bilinear on one cell: [0],[1] x-edges, [2],[3] y-edges, [4..7] values at (x0,y0),(x1,y0),(x0,y1),(x1,y1)
_TX = "((x-[0])/([1]-[0]))"
_TY = "((y-[2])/([3]-[2]))"
_BILINEAR = (
    f"[4]*(1-{_TX})*(1-{_TY})+[5]*{_TX}*(1-{_TY})+[6]*(1-{_TX})*{_TY}+[7]*{_TX}*{_TY}"
)


def _horner_expr(n: int) -> str:
    """"[0]+x*([1]+x*([2]+...))" for n coefficients."""
    expr = f"[{n - 1}]"
    for k in range(n - 2, -1, -1):
        expr = f"[{k}]+x*({expr})"
    return expr


def _abs_eta(content: Any, signed: bool) -> Any:
    import correctionlib.schemav2 as cs

    if signed:
        return content
    rule = cs.Formula(nodetype="formula", expression="abs(x)", parser="TFormula", variables=["eta"])
    return cs.Transform(nodetype="transform", input="eta", rule=rule, content=content)


def _jes(cal: NumericalCalibration) -> Any:
    import correctionlib.schemav2 as cs

    jes = cal.jes
    per_bin = []
    for b in jes.bins:
        rule = cs.Formula(
            nodetype="formula", expression=_JES_U, parser="TFormula", variables=["e_reco"],
            parameters=[b.lo, b.hi],
        )
        poly = cs.Formula(
            nodetype="formula", expression=_horner_expr(len(b.coef)), parser="TFormula",
            variables=["e_reco"], parameters=list(b.coef),
        )
        per_bin.append(cs.Transform(nodetype="transform", input="e_reco", rule=rule, content=poly))
    binning = cs.Binning(
        nodetype="binning", input="eta", edges=[float(e) for e in jes.eta_edges], content=per_bin, flow="clamp"
    )
    return cs.Correction(
        name="jes_response",
        description="Numerical-inversion JES response R_E(eta_det, E_reco); E_cal = E_reco / R_E. "
        "Polynomial in ln E_reco per eta bin, clamped to the fitted range.",
        version=1,
        inputs=[
            cs.Variable(name="eta", type="real", description="detector pseudorapidity of the jet"),
            cs.Variable(name="e_reco", type="real", description="jet energy at constituent scale (GeV)"),
        ],
        output=cs.Variable(name="response", type="real", description="energy response R_E"),
        data=_abs_eta(binning, jes.signed_eta),
    )


def _jms(cal: NumericalCalibration) -> Any:
    import correctionlib.schemav2 as cs

    jms = cal.jms
    assert jms is not None
    xn, yn, vals = jms.x_nodes, jms.y_nodes, jms.values
    cells = []
    for k in range(vals.shape[0]):
        for i in range(len(xn) - 1):
            for j in range(len(yn) - 1):
                params = [xn[i], xn[i + 1], yn[j], yn[j + 1],
                          vals[k, i, j], vals[k, i + 1, j], vals[k, i, j + 1], vals[k, i + 1, j + 1]]
                cells.append(cs.FormulaRef(nodetype="formularef", index=0, parameters=[float(p) for p in params]))
    grid = cs.MultiBinning(
        nodetype="multibinning",
        inputs=["eta", "e_jes", "m_jes"],
        edges=[[float(e) for e in jms.eta_edges], [float(e) for e in xn], [float(e) for e in yn]],
        content=cells,
        flow="clamp",
    )
    # Replace m_jes by clamp(ln(m/E)) first (it needs the raw energy), then e_jes by clamp(ln E).
    e_rule = cs.Formula(
        nodetype="formula", expression="max(min(log(x),[1]),[0])", parser="TFormula",
        variables=["e_jes"], parameters=[float(xn[0]), float(xn[-1])],
    )
    m_rule = cs.Formula(
        nodetype="formula", expression="max(min(log(y/x),[1]),[0])", parser="TFormula",
        variables=["e_jes", "m_jes"], parameters=[float(yn[0]), float(yn[-1])],
    )
    data = cs.Transform(
        nodetype="transform", input="m_jes", rule=m_rule,
        content=cs.Transform(nodetype="transform", input="e_jes", rule=e_rule, content=grid),
    )
    bilinear = cs.Formula(
        nodetype="formula", expression=_BILINEAR, parser="TFormula", variables=["e_jes", "m_jes"]
    )
    return cs.Correction(
        name="jms_response",
        description=(
            "Numerical-inversion JMS response R_m(|eta_det|, E_JES, m_JES) after the JES; "
            f"m_cal = m_JES / R_m where E_JES > {jms.min_energy:g} GeV and m_cal < E_JES, "
            "else m_JES. Bilinear in (ln E, ln(m/E)), clamped to the grid."
        ),
        version=1,
        inputs=[
            cs.Variable(name="eta", type="real", description="detector pseudorapidity of the jet"),
            cs.Variable(name="e_jes", type="real", description="JES-calibrated jet energy (GeV)"),
            cs.Variable(name="m_jes", type="real", description="JES-calibrated jet mass (GeV)"),
        ],
        output=cs.Variable(name="response", type="real", description="mass response R_m"),
        generic_formulas=[bilinear],
        data=_abs_eta(data, False),
    )


def to_correctionlib(cal: NumericalCalibration, *, residual_of: str | None = None) -> dict[str, Any]:
    """The calibration as a correctionlib ``CorrectionSet`` (schema v2), as a JSON-ready dict.

    Its description ends in ``jetcalib content hash sha256:...`` (:func:`correctionlib_hash`),
    which :class:`~jetcalib.deploy.CorrectionlibCalibration` checks. ``residual_of``: the
    content hash of the DNN model whose residual closure ``cal`` is; the description then says
    so, and jetcalib refuses to calibrate with the file alone."""
    import correctionlib.schemav2 as cs

    corrections = [_jes(cal)]
    if cal.jms is not None:
        corrections.append(_jms(cal))
        # the threshold as a number (no inputs), so that an evaluator need not parse a description
        corrections.append(cs.Correction(
            name="jms_min_energy", version=1, inputs=[], data=float(cal.jms.min_energy),
            description="GeV; jms_response applies only where e_jes is above this",
            output=cs.Variable(name="min_energy", type="real", description="GeV"),
        ))
        if cal.jms.max_energy is not None:
            corrections.append(cs.Correction(
                name="jms_max_energy", version=1, inputs=[], data=float(cal.jms.max_energy),
                description="GeV; jms_response applies only where e_jes is below this",
                output=cs.Variable(name="max_energy", type="real", description="GeV"),
            ))
    dom = cal.training_domain
    if residual_of is None and dom is not None and dom.energy is not None:
        # the training domain (docs/flags.md#training-domain) as numbers (no inputs): jets beyond
        # are flagged 7/8 by jetcalib, as by the numerical calibration itself
        for name, value, what in (("domain_abs_eta_max", dom.abs_eta_max, "largest |eta| of the fitted jets"),
                                  ("domain_e_reco_min", dom.energy[0], "GeV; smallest reco E of the fitted jets"),
                                  ("domain_e_reco_max", dom.energy[1], "GeV; largest reco E of the fitted jets")):
            corrections.append(cs.Correction(
                name=name, version=1, inputs=[], data=float(value),
                description=f"training domain: {what}",
                output=cs.Variable(name="value", type="real", description=what),
            ))
    if residual_of is None:
        description = (f"jetcalib numerical calibration (central value: {cal.config.central}); "
                       f"source hash {cal.header.content_hash or 'unsaved'}")
    else:
        description = (f"{RESIDUAL_MARK} of the DNN model {residual_of}: applied after the network "
                       "(see the export's sidecar residual_rule), not a calibration by itself; "
                       f"source hash {cal.header.content_hash or 'unsaved'}")
    cset = cs.CorrectionSet(schema_version=2, description=description, corrections=corrections)
    doc = json.loads(cset.model_dump_json(exclude_unset=True))
    doc["description"] += f"; {_HASH_LABEL} {correctionlib_hash(doc)}"
    return doc


#: Starts the description of a DNN's residual-closure export (refused as a calibration).
RESIDUAL_MARK = "jetcalib residual closure"
_HASH_LABEL = "jetcalib content hash"
_HASH_IN_DESCRIPTION = re.compile(rf"; {_HASH_LABEL} (sha256:[0-9a-f]{{64}})$")


def correctionlib_hash(doc: dict[str, Any]) -> str:
    """The content hash of a correctionlib document: the canonical JSON of all of it (every
    correction, every number, the description) with its own hash left out of the description."""
    body = dict(doc)
    body["description"] = _HASH_IN_DESCRIPTION.sub("", str(doc.get("description", "")))
    return content_hash(body)


def stored_correctionlib_hash(doc: dict[str, Any]) -> str | None:
    """The hash a jetcalib export stores at the end of its description, or None."""
    found = _HASH_IN_DESCRIPTION.search(str(doc.get("description", "")))
    return found.group(1) if found else None


def write_correctionlib(cal: NumericalCalibration, path: str | os.PathLike[str], *,
                        residual_of: str | None = None) -> Path:
    """Write :func:`to_correctionlib` to ``path`` atomically."""
    text = json.dumps(to_correctionlib(cal, residual_of=residual_of))
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
