"""``jetcalib export``: a trained DNN to ONNX (normalisation inside) plus ATLAS-style sidecar,
and/or (``--athena DIR``) the DNN.yaml and graph athena's JetDNNCalibStep loads as it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="DNN model directory (jetcalib train).", show_default=False)],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="ONNX file to write (.onnx).",
                                             show_default=False)] = None,
    athena: Annotated[Path | None, typer.Option(
        "--athena", help="Directory to write DNN.yaml and the graph for athena's JetDNNCalibStep "
                         "(residual closure folded in).", show_default=False)] = None,
) -> None:
    """Export a trained DNN to ONNX, with the normalisation inside the graph.

    Writes OUT.onnx: input 'features' float32 [N, 21] (raw inputs, model order), outputs
    'outputE' and 'outputM' (responses). Also OUT.nonorm.onnx and OUT.sidecar.json, the form
    ATLAS's deployed calibration reads: per-feature NormScale/NormOffset applied outside the
    graph. Checked with onnx.checker.

    With --athena DIR: DIR/DNN.yaml and DIR/jetcalib_dnn_athena.onnx for athena's
    JetDNNCalibStep: input 'input_1' [N, 21] normalised by athena (x·EScale·NormScale +
    NormOffset, MeV), outputs 'outputE', 'outputM' [N, 3] whose column 0 is the complete
    response (network × residual closure): E_cal = E/outputE[0], m_cal = m/outputM[0]
    (docs/method.md#atlas-runtime)."""
    from ..deploy.loading import load
    from ..errors import InputError

    if out is None and athena is None:
        raise InputError("give -o OUT.onnx and/or --athena DIR")
    from ..dnn import DNNCalibration

    cal = load(model, runtime="torch") if (Path(model) / "artifact.json").is_file() else load(model)
    if not isinstance(cal, DNNCalibration):
        raise InputError(f"{model}: only a DNN model can be exported to ONNX")
    if out is not None:
        from ..deploy.onnx_export import export_onnx

        paths = export_onnx(cal, out)
        console.print(f"wrote {paths['onnx']} (normalisation inside), {paths['nonorm']} and {paths['sidecar']}")
    if athena is not None:
        from ..deploy.athena_export import export_athena

        apaths = export_athena(cal, athena)
        console.print(f"wrote {apaths['yaml']} and {apaths['onnx']} (athena JetDNNCalibStep)")
