"""``jetcalib export``: a trained DNN to ONNX (normalisation inside) plus ATLAS-style sidecar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="DNN model directory (jetcalib train).", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="ONNX file to write (.onnx).", show_default=False)],
) -> None:
    """Export a trained DNN to ONNX, with the normalisation inside the graph.

    Writes OUT.onnx: input 'features' float32 [N, 21] (raw inputs, model order), outputs
    'outputE' and 'outputM' (responses). Also OUT.nonorm.onnx and OUT.sidecar.json, the form
    ATLAS's deployed calibration reads: per-feature NormScale/NormOffset applied outside the
    graph. Checked with onnx.checker."""
    from ..deploy.loading import load
    from ..errors import InputError

    cal = load(model)
    if not hasattr(cal, "net"):
        raise InputError(f"{model}: only a DNN model can be exported to ONNX")
    from ..deploy.onnx_export import export_onnx

    paths = export_onnx(cal, out)
    console.print(f"wrote {paths['onnx']} (normalisation inside), {paths['nonorm']} and {paths['sidecar']}")
