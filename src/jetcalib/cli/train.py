"""``jetcalib train``: fit the DNN calibration on a jet table and write the model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import (
    MapFileOption,
    MapOption,
    TreeOption,
    UnitsOption,
    app,
    column_map,
    console,
    err_console,
)


@app.command()
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Training jet table (.parquet or .root) with truth, reco and the 21 inputs; "
                     "repeat to train on several (e.g. --data a.parquet --data b.parquet).",
                     show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Model directory to write (artifact.json, weights.pt, "
                     "checkpoints/, logs/).", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML or TOML config (see --dump-config for every field).",
                     show_default=False),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoints/last.ckpt.")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override training.epochs.",
                                               show_default=False)] = None,
    max_jets: Annotated[int | None, typer.Option("--max-jets", min=100, help="Train on at most N jets.",
                                                 show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override training.seed.", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        "--head", help="Override the config's head (docs/method.md#heads): mode (one number per target, "
        "the LGK mode; the default), density (a mixture of head_components Gaussians in log r), quantile "
        "(16/50/84 % quantiles) or gaussian (one Gaussian per target); the last three also predict "
        "per-jet resolutions.", show_default=False)] = None,
    dump_config: Annotated[bool, typer.Option("--dump-config", help="Print the effective config as YAML, each key with its "
                                               "description as a comment, and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    devices: Annotated[int, typer.Option("--devices", min=1, help="Processes (CPU) or GPUs per node; "
                                         "> 1 trains data-parallel (DDP). Under torchrun/srun: the "
                                         "processes per node.")] = 1,
    num_nodes: Annotated[int, typer.Option("--num-nodes", min=1, help="Nodes of a multi-node DDP run "
                                           "(torchrun --nnodes / SLURM).")] = 1,
    strategy: Annotated[str, typer.Option("--strategy", help="auto (ddp when devices x nodes > 1), ddp, "
                                          "ddp_spawn or ddp_fork.")] = "auto",
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, max=4096, help="torch CPU threads of each process [default: 2, or "
        "training.threads of an old config]. A run-time setting: not stored in the model, not in "
        "its content hash.", show_default=False)] = None,
    gemm: Annotated[str, typer.Option(
        "--gemm", help="float32 product of the dense layers on a CPU: auto (oneDNN where it works and "
        "is faster than PyTorch's BLAS, which does not use AVX-512 on AMD CPUs), onednn or aten. "
        "Speed only: not stored, not in the content hash.")] = "auto",
    compile_network: Annotated[bool, typer.Option(
        "--compile", help="torch.compile the training steps (costs 20-60 s of compilation; pays on a "
        "GPU or for long CPU fits). Speed only.")] = False,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="torch deterministic algorithms: "
                                                "bit-identical reruns and resumes on a CPU.")] = False,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
    units: UnitsOption = None,
) -> None:
    """Train the DNN calibration of jet energy and mass (docs/method.md).

    Selects jets with pT_true > 150 GeV and |eta_true| < 2, holds out a validation split, fits the input normalisation, weights the mass loss flat in (ln E_true, ln m_true/E_true), pre-trains with L1 then trains with the mode-seeking LGK loss, checkpoints every epoch, stops early on the validation loss, fits the residual closure (numerical inversion of the network-calibrated training jets), and writes a verified model artifact (artifact.json + weights.pt) to OUT. Runs on the CPU unless a GPU is present.

    --head density|quantile|gaussian trains a probabilistic head instead (NLL or pinball loss, no LGK schedule) and then recalibrates its interval widths on the validation split (docs/method.md#width-recalibration).

    --devices N --num-nodes M trains with DDP; training.batch_size stays the global batch. Launch with torchrun or srun (see README), or let Lightning start the N local processes itself.

    Several --data tables are concatenated in the order given; tables generated with a common seed (the same events twice) are refused.

    Tables in MeV (--units MeV) are converted to GeV on reading: the model works in GeV and applies to any table through calibrate --units.

    Example: jetcalib train --data train.parquet -o model/
    """
    from ..dnn.config import DNNConfig
    from ..errors import InputError

    cfg, runtime = DNNConfig.from_file_with_runtime(config) if config is not None else (DNNConfig(), {})
    if threads is None:
        threads = _legacy_threads(runtime, config)
    from ..dnn.kernels import GEMMS

    if gemm not in GEMMS:  # before any data is read
        raise InputError(f"--gemm: unknown value {gemm!r}; one of {', '.join(GEMMS)}")
    overrides = {"epochs": epochs, "max_jets": max_jets, "seed": seed}
    training = cfg.training.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    top: dict[str, Any] = {}
    if head is not None:
        from ..dnn.heads import HEADS

        if head not in HEADS:
            raise InputError(f"--head: unknown head {head!r}; choose one of {', '.join(HEADS)}")
        top["head"] = head
    cfg = DNNConfig.from_dict({**cfg.model_dump(), **top, "training": training.model_dump()}, source="options")
    if dump_config:
        console.print(cfg.dump_yaml(), end="", markup=False, soft_wrap=True)
        return
    if not data:
        raise InputError("--data: a training table is required (or use --dump-config)")
    if out is None:
        raise InputError("-o/--out: a model directory is required")

    import numpy as np

    from ..dnn.data import TRAIN_COLUMNS
    from ..dnn.training import train as fit
    from ..io import check_simulation_versions, open_jets
    from ..io.units import read_as_gev, resolve_units

    cmap = column_map(map_, map_file)
    units = resolve_units(units, cmap)
    needed = list(dict.fromkeys(list(TRAIN_COLUMNS) + cfg.features))
    if cfg.oracle_features:  # an oracle model (docs/method.md#oracle) reads hidden-truth columns
        from ..dnn.oracle import oracle_source_columns

        needed = list(dict.fromkeys([*needed, *oracle_source_columns(cfg.oracle_features)]))
    from ..features.constituents import (
        ConstituentLayout,
        concatenate_columns,
        constituents_to_gev,
        require_constituents,
    )

    # a constituent network (inputs: constituents) reads the jagged cl_*/trk_* columns too
    jagged: tuple[str, ...] = ()
    if cfg.inputs == "constituents":
        c = cfg.constituents
        jagged = ConstituentLayout(len(cfg.features), c.max_clusters, c.max_tracks).columns
    # Under DDP every rank runs this command; only rank 0 talks. Lightning reads the rank from
    # the launcher's environment at import and sets the global rank once the group is up.
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    parts: list[dict[str, np.ndarray]] = []
    provenance: list[dict[str, Any]] = []
    seen_seeds: dict[int, Path] = {}
    metas: dict[str, Any] = {}
    for path in data:
        if any(Path(p["path"]).resolve() == path.resolve() for p in provenance):
            raise InputError(f"--data: {path} is given twice")
        with open_jets(path, tree=tree, column_map=cmap) as f:
            if jagged:
                require_constituents(f.columns, jagged, str(path))
            f.require(needed)
            if _rank(rank_zero_only) == 0:
                err_console.print(f"reading {f.num_rows:,} jets from {path}")  # progress: stderr
            part = read_as_gev(f.read(needed), units, path, cmap)
            if jagged:
                part.update(constituents_to_gev(f.read(list(jagged)), units))
            meta = f.metadata
        metas[str(path)] = meta
        for s in (meta.seeds if meta is not None else []):
            if s in seen_seeds:
                raise InputError(f"--data: {path} and {seen_seeds[s]} were generated with a common seed "
                                 f"({s}): the same events would be counted twice")
            seen_seeds[s] = path
        parts.append(part)
        provenance.append({"path": str(path), "rows": len(part[needed[0]]),
                           "metadata": meta.model_dump(mode="json") if meta is not None else None})
    check_simulation_versions([(p["path"], metas[p["path"]]) for p in provenance])
    table = parts[0] if len(parts) == 1 else concatenate_columns(parts, [*needed, *jagged])
    try:
        model = fit(table, out, cfg, resume=resume, progress=not quiet, provenance=provenance,
                    devices=devices, num_nodes=num_nodes, strategy=strategy, deterministic=deterministic,
                    threads=threads, gemm=gemm, compile_network=compile_network)
    except OSError as exc:
        from ..io.files import WRITE_ERRNOS

        if exc.errno not in WRITE_ERRNOS or exc.filename:
            raise  # main() names the file, or it is a bug
        # a checkpoint write on a full disk says nothing about which file: name the model
        raise InputError(f"{out}: cannot write the model ({exc.strerror or exc})") from None
    if _rank(rank_zero_only) != 0:
        return
    summary = model.summary
    console.print(
        f"[green]trained[/] on {summary['n_train']:,} jets (+{summary['n_val']:,} validation) in "
        f"{summary['train_seconds']:.0f} s, {summary['jets_per_s']:,.0f} jets/s, {summary['epochs_run']} epochs, "
        f"best validation loss {summary['best_val_loss']:.4f}; model written to {out}"
    )


def _legacy_threads(runtime: dict[str, Any], config: Path | None) -> int:
    """``training.threads`` of a 0.1 config as this run's thread count (2 when absent)."""
    from ..errors import InputError

    value = runtime.get("threads")
    if value is None:
        return 2
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{config}: training.threads: {value!r}, a thread count >= 1 (now the "
                         "run-time option --threads)")
    return value


def _rank(rank_zero_only: Any) -> int:
    """The global rank Lightning set on its ``rank_zero_only`` (an attribute its stub lacks)."""
    return int(getattr(rank_zero_only, "rank", 0))
