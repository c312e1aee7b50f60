"""Commands registered before their stage exists: they say so and exit with code 3.

Each is replaced by its real module as the stage lands (see ARCHITECTURE.md)."""

from __future__ import annotations

from ._app import app


def _stub(name: str, help_text: str) -> None:
    def command() -> None:
        from ..errors import NotAvailableError

        raise NotAvailableError(f"'jetcalib {name}' is not yet available in this version")

    command.__doc__ = f"{help_text} (not yet available)"
    app.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(command)


_STUBS = {
    "generate": "Simulate events (Pythia 8 + pile-up + calorimeter) into matched jet ntuples.",
    "numerical": "Fit the standard numerical-inversion calibration (JES then JMS).",
    "train": "Train the DNN calibration.",
    "calibrate": "Apply a calibration (DNN or numerical) to jet ntuples.",
    "evaluate": "Compare calibrations: closure, resolution, mass peaks; HTML report.",
    "export": "Export a trained DNN to ONNX with its normalisation.",
    "demo": "Run the whole chain on a small built-in sample and write a report.",
}

_registered = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
_registered |= {g.name for g in app.registered_groups}
for _name, _help in _STUBS.items():
    if _name not in _registered:
        _stub(_name, _help)
