"""Fitting the DNN calibration with PyTorch Lightning: seeded, checkpointed every epoch,
resumable, early-stopped on the validation loss, CPU by default and GPU when present, and
data-parallel (DDP) over several processes, GPUs or nodes.

Under DDP every rank holds the whole (small, in-memory) training table and prepares it
identically (selection, split, normalisation, weights are deterministic functions of the data
and the seed), then trains on its shard of each global batch (:class:`EpochBatchSampler`).
Only global rank 0 writes checkpoints, logs and the artifact.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, InputError
from ..features import as_columns
from ..io import ArtifactHeader
from ..io.provenance import environment, hash_input_files
from ..numerical import NumericalCalibration, NumericalConfig
from .config import DNNConfig
from .data import (
    EpochBatchSampler,
    PreparedData,
    ShardedTensors,
    in_training_phase_space,
    prepare_training_data,
)
from .model import ARTIFACT_KIND, FORMAT_VERSION, TORCH_BATCH, DNNCalibration
from .model import ENVIRONMENT_PACKAGES as MODEL_ENVIRONMENT_PACKAGES

__all__ = ["CHECKPOINT_DIR", "CLOSURE_JMS_MAX_ENERGY", "STRATEGIES", "fit_closure", "fit_width_recalibration",
           "train"]

#: The residual closure's mass step (JMS) stops at this network-calibrated energy (GeV). Above
#: it the reco mass is set by the cluster granularity, the mass response is broad and
#: asymmetric, and its numerical inversion widens the mass resolution: on the standard sample
#: from 0.227 to 0.308 at pT_true 1500-2000 GeV (the numerical calibration alone is worse than
#: none there). Below it the residual brings the median mass closure from 3.3 % to 1.4 %.
CLOSURE_JMS_MAX_ENERGY = 1500.0

#: Sub-directory of the model directory holding Lightning checkpoints (``last.ckpt``, ``best.ckpt``).
CHECKPOINT_DIR = "checkpoints"

#: Accepted ``strategy`` values. ``auto``: one device, or ``ddp`` when devices × nodes > 1.
#: ``ddp``: the processes come from a launcher (torchrun, SLURM's srun) or, if there is none,
#: Lightning starts them by re-running the current command. ``ddp_spawn``/``ddp_fork``: for
#: calling :func:`train` from a notebook or another program that cannot be re-run.
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork")


def _quiet_lightning() -> None:
    # Batches are sliced from in-memory tensors in the main process: worker processes would
    # only add pickling cost, so Lightning's advice to add DataLoader workers does not apply.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # lightning 2.6 with torch >= 2.10 trips over torch's own pytree deprecation; harmless.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)
    # On --resume the checkpoint directory is expected to exist.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        import logging

        logging.getLogger(name).setLevel(logging.WARNING)


def _loader(tensors: tuple[Any, ...], batch_size: int, seed: int, shuffle: bool) -> Any:
    from torch.utils.data import DataLoader

    # batch_size=None + a sampler of index tensors: one fancy-indexing gather per batch from
    # the single in-memory copy, instead of N per-sample __getitem__ calls and a collate.
    sampler = EpochBatchSampler(tensors[0].shape[0], batch_size, seed, shuffle=shuffle)
    return DataLoader(ShardedTensors(tensors), sampler=sampler, batch_size=None)  # type: ignore[arg-type]


def _parallel(devices: int, num_nodes: int, strategy: str) -> tuple[int, int, str]:
    """Checked (devices, num_nodes, strategy) for the Trainer."""
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy: unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if devices < 1 or num_nodes < 1:
        raise InputError(f"--devices/--num-nodes: must be >= 1, got {devices} and {num_nodes}")
    _check_launcher(devices, num_nodes)
    if strategy == "auto" and devices * num_nodes > 1:
        strategy = "ddp"
    return devices, num_nodes, strategy


def _check_launcher(devices: int, num_nodes: int) -> None:
    """Refuse devices × nodes that disagree with the processes torchrun / srun started, before
    anything runs (Lightning would only find out once fitting starts, with a traceback)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and devices * num_nodes == 1:
            # Each process would train alone and all would write the same directory.
            raise InputError(f"--devices/--num-nodes: this is one of {world} processes started by "
                             "torchrun, but --devices 1 --num-nodes 1; pass --devices (processes "
                             f"per node) and --num-nodes so that their product is {world}")
        env: Any = TorchElasticEnvironment()
    elif SLURMEnvironment.detect() and devices * num_nodes > 1:
        # A single-device run inside a many-task allocation is legitimate, so SLURM is only
        # checked (--ntasks-per-node = devices, --nodes = num_nodes) when DDP is asked for.
        env = SLURMEnvironment()
    else:
        return
    try:
        env.validate_settings(num_devices=devices, num_nodes=num_nodes)
    except ValueError as exc:
        raise InputError(f"--devices/--num-nodes: {str(exc).splitlines()[0]}") from None


def train(
    table: Mapping[str, np.ndarray],
    out_dir: str | Path,
    config: DNNConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    provenance: list[dict[str, Any]] | None = None,
    stop_after_epochs: int | None = None,
    devices: int = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    deterministic: bool = False,
    threads: int | None = 2,
    gemm: str = "auto",
    compile_network: bool = False,
) -> DNNCalibration:
    """Train on a jet table (needs truth, reco and the configured features) and save the model
    artifact into ``out_dir``; returns the trained :class:`DNNCalibration`.

    ``resume`` continues from ``out_dir/checkpoints/last.ckpt``. ``stop_after_epochs`` ends
    this run early as an interruption would (the schedule still spans ``config.training.epochs``).

    ``devices`` (processes on a CPU, GPUs on a GPU machine) per node × ``num_nodes`` > 1 trains
    with DDP (gloo backend on CPUs, NCCL on GPUs); ``config.training.batch_size`` stays the
    *global* batch, each rank taking ``batch_size / (devices · num_nodes)`` of it, so the result
    equals a one-process run up to floating-point summation order. Under torchrun or SLURM the
    launcher's world size must equal ``devices · num_nodes``. Every rank returns the model;
    only global rank 0 writes ``out_dir``. ``deterministic`` turns on
    ``torch.use_deterministic_algorithms`` for the fit (restored afterwards): bit-identical
    reruns and resumes on a CPU. ``threads``: torch CPU threads of this process (each rank's,
    under DDP; ``None`` leaves torch's setting as it is). These run-time settings are not part
    of the stored config nor of the content hash (the same model can be trained or resumed on
    other hardware). Neither are ``gemm`` and ``compile_network``, which change the speed and
    not what is learnt (up to floating-point summation order): ``gemm`` is the dense layers'
    float32 product on a CPU (:mod:`jetcalib.dnn.kernels`: ``"onednn"``, ``"aten"`` or
    ``"auto"``, oneDNN where it works and is faster); ``compile_network`` runs the training
    steps' forward and backward through ``torch.compile`` (tens of seconds of compilation; on a
    GPU or for long CPU fits). ``summary["phase_seconds"]`` times data preparation, epochs,
    validation and the residual closure. The fit keeps its activations in the heap
    (:func:`jetcalib.dnn.kernels.tune_allocator`, process-wide on Linux).
    """
    import lightning as L
    import torch
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from .module import CalibrationModule, StopAfter, Throughput
    from .network import ConstituentNet, build_network

    cfg = config or DNNConfig()
    t = cfg.training
    devices, num_nodes, strategy = _parallel(devices, num_nodes, strategy)
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    last = ckpt_dir / "last.ckpt"
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (a model is a directory)")
    if resume and not last.is_file():
        raise InputError(f"{out}: nothing to resume (no {CHECKPOINT_DIR}/last.ckpt)")
    resumed: dict[str, Any] | None = None
    if resume:
        # Checked before Lightning touches the file: it may come from someone else.
        resumed = _safe_checkpoint(last, ckpt_dir)
        _contain_checkpoint_paths(resumed, last, ckpt_dir)
        done = int(resumed.get("epoch", -1)) + 1
        if done > t.epochs:
            raise InputError(f"{last}: {done} epochs already done, more than training.epochs = "
                             f"{t.epochs}; resume with the config it was trained with")
    if not resume and last.is_file():
        raise InputError(f"{out}: already holds a training run; pass --resume to continue it "
                         "or choose another output directory")
    out.mkdir(parents=True, exist_ok=True)
    _quiet_lightning()
    if threads is not None:
        if threads < 1:
            raise InputError(f"threads: {threads}, at least 1")
        torch.set_num_threads(threads)
    from .kernels import choose_gemm, tune_allocator

    tune_allocator()

    try:
        gemm_used = choose_gemm(gemm, "cuda" if torch.cuda.is_available() else "cpu",
                                width=cfg.network.width, batch=t.batch_size)
    except ValueError as exc:
        raise InputError(f"--gemm: {exc}") from None
    L.seed_everything(t.seed, workers=True, verbose=False)

    t_prepare = time.perf_counter()
    # the input files hashed now, before hours of training, so that the hash is of what was read
    training_data = hash_input_files(provenance or [])
    data: PreparedData = prepare_training_data(table, cfg)
    if cfg.closure == "numerical":
        _check_closure_sample(table, cfg)
    net = build_network(cfg)
    if isinstance(net, ConstituentNet):  # the constituents' robust normalisation, from the training jets
        net.fit_constituent_normalisation(data.train[0])
    _, le, lm, _, w_m = data.train
    net.set_output_bias(float(le.median()), float(lm[w_m > 0].median()) if (w_m > 0).any() else 0.0)
    module = CalibrationModule(net, cfg, gemm=gemm_used, compile_network=compile_network)
    t_prepare = time.perf_counter() - t_prepare
    if resumed is not None:
        _check_same_network(resumed, module, last)

    throughput = Throughput()
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_loss", mode="min",
                                 save_top_k=1, save_last=True, every_n_epochs=1)
    callbacks: list[Any] = [throughput, checkpoint, EarlyStopping(monitor="val_loss", patience=t.patience)]
    if stop_after_epochs is not None:
        callbacks.append(StopAfter(stop_after_epochs))
    # One version_N sub-directory per run: a resumed run must not overwrite the first run's log.
    loggers: list[Any] = [CSVLogger(out, name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard"))
    except ImportError:
        pass
    n_batches = (data.train[0].shape[0] + t.batch_size - 1) // t.batch_size
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    cublas_config = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        trainer = L.Trainer(
            plugins=[_contained_checkpoint_io(ckpt_dir)],
            max_epochs=t.epochs,
            accelerator="auto",
            devices=devices,
            num_nodes=num_nodes,
            strategy=strategy,
            callbacks=callbacks,
            logger=loggers,
            enable_model_summary=False,
            enable_progress_bar=progress,
            num_sanity_val_steps=0,
            log_every_n_steps=max(1, min(50, n_batches)),
            # EpochBatchSampler shards each global batch itself (a DistributedSampler would
            # shard the data set instead, and per-rank batches would then each be batch_size).
            use_distributed_sampler=False,
            # None, not False: False would switch deterministic algorithms off for a caller
            # who had turned them on.
            deterministic=True if deterministic else None,
            default_root_dir=out,
        )
    except (ValueError, MisconfigurationException) as exc:
        # e.g. more GPUs asked for than the machine has
        raise InputError(f"--devices/--num-nodes/--strategy: {str(exc).splitlines()[0]}") from None
    try:
        t0 = time.perf_counter()
        # Lightning's progress bars write to stdout: progress belongs on stderr, stdout to results
        with _interrupts_propagate(), contextlib.redirect_stdout(sys.stderr):
            trainer.fit(
                module,
                train_dataloaders=_loader(data.train, t.batch_size, t.seed, True),
                val_dataloaders=_loader(data.val, TORCH_BATCH, t.seed, False),
                ckpt_path=str(last) if resume else None,
                # never unpickle: a checkpoint a user received could run code on load
                weights_only=True,
            )
        wall = time.perf_counter() - t0
    finally:
        # Lightning sets both process-wide; a library call should not leave them behind.
        torch.use_deterministic_algorithms(was_deterministic)
        if cublas_config is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    best = checkpoint.best_model_path
    if best and Path(best).is_file():
        state = _safe_checkpoint(best, ckpt_dir)["state_dict"]
        module.load_state_dict(state)
    net = module.net.cpu()
    # With ddp_spawn/ddp_fork training ran in child processes: this (main) process got rank
    # 0's weights, best checkpoint path and logged metrics back, but not its loop counters or
    # callback state, which the last checkpoint holds.
    epochs_run, best_score, jets_per_s = _run_record(trainer, checkpoint, throughput, last)
    phases = {"prepare": round(t_prepare, 2), "fit": round(wall, 2)}
    if throughput.seconds > 0:  # the fit ran in this process (not ddp_spawn children)
        phases |= {"epochs": round(throughput.seconds, 2), "validation": round(throughput.val_seconds, 2)}
    summary: dict[str, Any] = {
        "epochs_run": epochs_run,
        "best_val_loss": best_score,
        "train_seconds": round(wall, 2),
        "jets_per_s": jets_per_s,
        "n_train": int(data.train[0].shape[0]),
        "n_val": int(data.val[0].shape[0]),
        "n_selected": data.n_selected,
        "n_table": data.n_total,
        "gemm": gemm_used,
        "compiled": bool(compile_network),
        "threads": torch.get_num_threads(),
        "phase_seconds": phases,
    }
    if cfg.head != "mode":
        # the width recalibration (docs/method.md#width-recalibration), on the validation split
        summary["width_recalibration"] = fit_width_recalibration(net, data.val)
    header = ArtifactHeader(
        artifact=ARTIFACT_KIND, format_version=FORMAT_VERSION, features=cfg.network_features,
        seeds={"training": t.seed}, training_data=training_data,
        environment=environment(MODEL_ENVIRONMENT_PACKAGES),  # not in the content hash
    )
    model = DNNCalibration(net, cfg, data.normalisation, header, summary, training_domain=data.domain)
    if cfg.closure == "numerical":
        # Every rank fits it (deterministic and cheap) so that every rank returns the same model.
        t_closure = time.perf_counter()
        model.residual, model.summary["closure_jets"] = fit_closure(model, table)
        phases["closure"] = round(time.perf_counter() - t_closure, 2)
    if trainer.is_global_zero:
        model.save(out)
    return model


def fit_closure(model: DNNCalibration, table: Mapping[str, np.ndarray]) -> tuple[NumericalCalibration, int]:
    """The residual closure of ``model`` (``DNNConfig.closure = "numerical"``) and the jets it
    was fitted on: the numerical inversion (docs/method.md#residual-closure) fitted on the network-calibrated jets of
    the training selection (calib_flag 0), with the jet η as detector η (the residual is applied
    to calibrated jets, which carry only that η)."""
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in
            as_columns(table, ("e_true", "m_true", "pt_true", "eta_true", "eta_reco"), what="training table").items()}
    network_only = DNNCalibration(model.net, model.config, model.normalisation)
    cal = network_only.calibrate(table)
    keep = (cal["calib_flag"] == 0) & in_training_phase_space(cols["pt_true"], cols["eta_true"], model.config)
    eta = cols["eta_reco"][keep]
    fit_table = {"e_true": cols["e_true"][keep], "m_true": cols["m_true"][keep],
                 "e_reco": cal["e_cal"][keep].astype(np.float64), "m_reco": cal["m_cal"][keep].astype(np.float64),
                 "eta_reco": eta, "eta": eta}
    config = NumericalConfig(jms_max_energy=CLOSURE_JMS_MAX_ENERGY)
    return NumericalCalibration.fit(fit_table, config), int(keep.sum())


def fit_width_recalibration(net: Any, val: tuple[Any, ...], batch_size: int = TORCH_BATCH) -> dict[str, Any]:
    """Fit a probabilistic network's width recalibration (docs/method.md#width-recalibration)
    on prepared validation tensors ``(x, log_r_e, log_r_m, weight_e, weight_m)``
    (:class:`~jetcalib.dnn.data.PreparedData`): the PIT values of the trained head, the mass
    only where its loss is not masked (weight_m > 0), unweighted (the coverage is then nominal
    on the validation jets as they come); sets ``net.recal_pit``, returns the summary record."""
    import torch

    from .recalibration import fit_from_pit

    x, y_e, y_m, _, w_m = val[:5]
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for start in range(0, int(x.shape[0]), batch_size):
            sl = slice(start, start + batch_size)
            a, b = net.pit(x[sl], y_e[sl], y_m[sl])
            parts.append((a.numpy(), b.numpy()))
    net.train(was_training)
    u_e = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    u_m = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    return fit_from_pit(net, u_e, u_m[np.asarray(w_m) > 0])


def _run_record(trainer: Any, checkpoint: Any, throughput: Any, last: Path) -> tuple[int, float | None, float]:
    """(epochs run, best validation loss, training jets/s) of the finished fit."""
    if throughput.seconds > 0:  # the fit ran in this process
        best = checkpoint.best_model_score
        return (int(trainer.current_epoch), float(best) if best is not None else None,
                round(throughput.jets / throughput.seconds, 1))
    ckpt = _safe_checkpoint(last, last.parent)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    best = state.get("best_model_score")
    rate = trainer.callback_metrics.get("jets_per_s")
    # The checkpoint is written at the end of epoch k with epoch = k; a finished fit has run k + 1.
    return (int(ckpt["epoch"]) + 1, float(best) if best is not None else None,
            round(float(rate), 1) if rate is not None else 0.0)



def _inside(path: str | os.PathLike[str], directory: Path) -> bool:
    return Path(path).resolve().is_relative_to(directory.resolve())


def _safe_checkpoint(path: str | os.PathLike[str], ckpt_dir: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint of this model directory without unpickling code
    (``weights_only=True``); refuse one that resolves (through a symlink, say) outside
    ``ckpt_dir`` or that cannot be read, with one line naming the file."""
    import torch

    where = Path(path)
    if not _inside(where, ckpt_dir):
        raise ArtifactError(f"{where}: checkpoint lies outside {ckpt_dir}; refusing to load it")
    try:
        ckpt = torch.load(where, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch raises UnpicklingError, RuntimeError, EOFError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"{where}: not a readable training checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ArtifactError(f"{where}: not a jetcalib training checkpoint (no state_dict)")
    return ckpt


_PATH_FIELDS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _contain_checkpoint_paths(ckpt: dict[str, Any], last: Path, ckpt_dir: Path) -> None:
    """Make the file paths in ``last.ckpt``'s ``ModelCheckpoint`` state safe to resume from.

    Lightning acts on them (it deletes a superseded "best" file), so each must name a file of
    the checkpoint directory the state itself records (``dirpath``); anything else is refused.
    They are re-rooted at ``ckpt_dir`` (rewriting ``last.ckpt`` when they differ), so a model
    directory that was moved or copied resumes with its best-model record intact, where
    Lightning would otherwise drop the record."""
    import io

    import torch

    from ..io import atomic_path

    here = os.path.realpath(ckpt_dir)  # what ModelCheckpoint stores as its dirpath
    callbacks = ckpt.get("callbacks")
    if not isinstance(callbacks, dict):
        raise ArtifactError(f"{last}: not a jetcalib training checkpoint (no callback states)")

    def refuse(what: str, value: Any) -> ArtifactError:
        return ArtifactError(f"{last}: its {what} {str(value)[:200]!r} lies outside its checkpoint "
                             "directory; refusing to resume from it")

    changed = False
    for key, state in callbacks.items():
        if not str(key).startswith("ModelCheckpoint"):
            continue
        if not isinstance(state, dict) or not isinstance(state.get("dirpath"), str):
            raise ArtifactError(f"{last}: malformed ModelCheckpoint state; refusing to resume from it")
        old = Path(state["dirpath"])

        def moved(what: str, value: Any, old: Path = old) -> str:
            if value == "":
                return value
            if not isinstance(value, str) or Path(value).parent != old or Path(value).name in ("", ".", ".."):
                raise refuse(what, value)
            return os.path.join(here, Path(value).name)

        new = dict(state, dirpath=here)
        for field in _PATH_FIELDS:
            if field in state:
                new[field] = moved(field, state[field])
        best_k = state.get("best_k_models", {})
        if not isinstance(best_k, dict):
            raise refuse("best_k_models", best_k)
        new["best_k_models"] = {moved("best_k_models entry", p): v for p, v in best_k.items()}
        def paths(st: dict[str, Any]) -> list[Any]:  # the strings alone (values hold tensors)
            return [st.get("dirpath"), *(st.get(f) for f in _PATH_FIELDS), *st.get("best_k_models", {})]

        if paths(new) != paths(state):
            callbacks[key] = new
            changed = True
    if changed:
        buffer = io.BytesIO()
        torch.save(ckpt, buffer)
        with atomic_path(last) as tmp:
            tmp.write_bytes(buffer.getvalue())


def _check_same_network(ckpt: dict[str, Any], module: Any, last: Path) -> None:
    """Refuse to resume a checkpoint of another network configuration (other width, depth or
    features): one line instead of Lightning's state-dict traceback."""
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    have = {k: tuple(getattr(v, "shape", ())) for k, v in ckpt["state_dict"].items()}
    # a probabilistic run started before the width recalibration: its checkpoints lack the
    # buffer, which loads as the identity (CalibrationNet's load_state_dict pre-hook)
    for k in want:
        if k.endswith("recal_pit"):
            have.setdefault(k, want[k])
    if want != have:
        differ = sorted(set(want) ^ set(have)) or sorted(k for k in want if want[k] != have[k])
        raise InputError(f"{last}: the checkpoint holds another network ({differ[0]} differs); "
                         "resume with the config it was trained with")


def _check_closure_sample(table: Mapping[str, np.ndarray], cfg: DNNConfig) -> None:
    """Refuse, before any training, a table too small for the residual closure's numerical
    fit (run after training on the jets of the training selection): the jet counts that fit
    needs, JES and JMS, counted on the truth."""
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in
            as_columns(table, ("e_true", "m_true", "pt_true", "eta_true"), what="training table").items()}
    keep = in_training_phase_space(cols["pt_true"], cols["eta_true"], cfg) & (cols["e_true"] > 0)
    config = NumericalConfig(jms_max_energy=CLOSURE_JMS_MAX_ENERGY)
    n_jes = int(keep.sum())
    massive = keep & (cols["m_true"] > config.jms_min_mass) & (cols["m_true"] < cols["e_true"])
    n_jms = int(massive.sum())
    hint = "use a larger sample, or closure: none in the config"
    if n_jes < 2 * config.min_entries:
        raise InputError(f"training table: {n_jes} jets in the training selection; the residual "
                         f"closure fitted after training needs at least {2 * config.min_entries} ({hint})")
    if n_jms < 4 * config.jms_min_entries:
        raise InputError(f"training table: {n_jms} jets in the training selection with m_true > "
                         f"{config.jms_min_mass:g} GeV; the residual closure's mass step needs at least "
                         f"{4 * config.jms_min_entries} ({hint})")


@contextlib.contextmanager
def _interrupts_propagate() -> Iterator[None]:
    """Let Ctrl-C and SIGTERM out of ``trainer.fit`` as themselves.

    Lightning turns a KeyboardInterrupt (also :class:`~jetcalib.errors.Terminated`, what our
    SIGTERM handler raises) into ``sys.exit(1)`` and leaves SIGINT ignored, and turns its own
    SIGTERM handling into an exit with status 0: the command would end "successfully" with no
    model. Re-raised here, they reach the CLI (exit 130 / 143); the last checkpoint stays for
    ``--resume``."""
    import signal
    import threading

    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from ..errors import Terminated

    main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        yield
    except SystemExit as exc:
        cause = exc.__context__
        if isinstance(cause, KeyboardInterrupt):
            raise cause from None
        if isinstance(exc, SIGTERMException):
            raise Terminated() from None
        raise
    finally:
        if main_thread and sigint is not None:
            signal.signal(signal.SIGINT, sigint)


def _contained_checkpoint_io(ckpt_dir: Path) -> Any:
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class ContainedCheckpointIO(TorchCheckpointIO):
        """Lightning's checkpoint I/O, made safe: a checkpoint is written whole or not at all
        (a temporary file renamed, so an interruption never leaves a truncated ``last.ckpt``),
        and nothing outside the checkpoint directory is ever written or removed."""

        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                            storage_options: Any = None) -> None:  # noqa: ARG002 -- CheckpointIO's signature
            import io

            import torch

            from ..io import atomic_path

            if not _inside(path, ckpt_dir):
                raise ArtifactError(f"{path}: checkpoint outside {ckpt_dir}; not written")
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(buffer.getvalue())

        def remove_checkpoint(self, path: Any) -> None:
            if _inside(path, ckpt_dir) and Path(path).is_file():
                Path(path).unlink()

    return ContainedCheckpointIO()
