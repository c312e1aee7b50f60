"""The Lightning module wrapping :class:`CalibrationNet`: loss schedule (L1 pre-training,
annealed LGK), optimiser and learning-rate schedule, and a jets/s throughput callback."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from .config import DNNConfig
from .heads import head_loss
from .kernels import use_gemm
from .losses import annealed_width, pointwise_loss
from .network import CalibrationNet

__all__ = ["CalibrationModule", "StopAfter", "Throughput"]


class CalibrationModule(L.LightningModule):
    """Trains ``net`` on batches ``(x, log_r_e, log_r_m, weight_e, weight_m, totals)`` from
    :class:`~jetcalib.dnn.data.ShardedTensors` (``totals``: the global batch's weight sums)."""

    def __init__(self, net: CalibrationNet, cfg: DNNConfig, *, gemm: str = "aten", compile_network: bool = False) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        # run-time choices (jetcalib.dnn.kernels, torch.compile): not in the checkpoint's weights
        self.gemm = gemm
        self.compile_network = compile_network
        self._compiled: Any = None

    def _network_call(self) -> Any:
        """What ``_sums`` evaluates: the head parameters (probabilistic heads) or the
        log-responses; compiled (``compile_network``) for the training steps. Validation stays
        eager: a forward of a few batches per epoch would not repay a second compilation."""
        fn = self.net.forward if self.cfg.head == "mode" else self.net.head_params
        if not (self.compile_network and self.training and torch.is_grad_enabled()):
            return fn
        if self._compiled is None:
            # dynamic batch dimension: one graph for full, short last and DDP-shard batches
            self._compiled = torch.compile(fn, dynamic=True)
        return self._compiled

    # --- loss schedule --------------------------------------------------------------------
    def loss_kind(self, epoch: int) -> str:
        """The loss used in ``epoch``: L1 during pre-training when the main loss is LGK."""
        lc = self.cfg.loss
        return "l1" if lc.kind == "lgk" and epoch < lc.pretrain_epochs else lc.kind

    def kernel_width(self, epoch: int) -> float:
        lc = self.cfg.loss
        return annealed_width(
            epoch, pretrain_epochs=lc.pretrain_epochs, anneal_epochs=lc.anneal_epochs,
            h_start=lc.h_start, h_end=lc.h_end,
        )

    def _sums(self, batch: tuple[torch.Tensor, ...], kind: str, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted loss sums of this rank's rows: Σ w_E·L_E and Σ w_m·L_m (no division; w_m
        is 0 where the mass loss is masked)."""
        x, log_r_e, log_r_m, w_e, w_m = batch[:5]
        with use_gemm(self.gemm):  # type: ignore[arg-type]
            out = self._network_call()(x)
        if self.cfg.head != "mode":  # a probabilistic head: its own loss (NLL, pinball), no schedule
            loss_e, loss_m = head_loss(self.cfg.head, self.cfg.head_components, out, log_r_e, log_r_m)
            return (w_e * loss_e).sum(), (w_m * loss_m).sum()
        pred_e, pred_m = out
        alpha = self.cfg.loss.alpha
        sum_e = (w_e * pointwise_loss(kind, pred_e - log_r_e, h, alpha)).sum()
        sum_m = (w_m * pointwise_loss(kind, pred_m - log_r_m, h, alpha)).sum()
        return sum_e, sum_m

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:  # noqa: ARG002 -- Lightning's hook
        epoch = self.current_epoch
        sum_e, sum_m = self._sums(batch, self.loss_kind(epoch), self.kernel_width(epoch))
        # Denominators are the GLOBAL batch's weight sums (see ShardedTensors), and DDP averages
        # gradients over ranks, hence × world: the step equals one process's step on the whole
        # global batch. With one process this is Σw·L/Σw over the batch, as before; a batch of
        # only light jets gives a zero mass term instead of NaN (clamp).
        totals = batch[5]
        world = self.trainer.world_size if self._trainer is not None else 1
        loss_e = sum_e / totals[0].clamp_min(1e-12)
        loss_m = sum_m / totals[1].clamp_min(1e-12)
        loss = (loss_e + self.cfg.loss.mass_weight * loss_m) * world
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch[0].shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(4, dtype=torch.float64, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:  # noqa: ARG002 -- Lightning's hook
        # Always the final loss (LGK at h_end): a monitor that does not change with the epoch's
        # schedule, so early stopping and "best" compare like with like.
        lc = self.cfg.loss
        sum_e, sum_m = self._sums(batch, lc.kind, lc.h_end)
        self._val_sums += torch.stack([sum_e, batch[3].sum(), sum_m, batch[4].sum()]).double()

    def on_validation_epoch_end(self) -> None:
        # The exact weighted mean over the whole validation set, summed over the ranks' shards:
        # every rank then logs the same value, so early stopping and "best" agree everywhere.
        s = self.trainer.strategy.reduce(self._val_sums, reduce_op="sum")
        loss_e = s[0] / s[1].clamp_min(1e-12)
        loss_m = s[2] / s[3].clamp_min(1e-12)
        loss = loss_e + self.cfg.loss.mass_weight * loss_m
        for name, value in (("val_loss", loss), ("val_loss_e", loss_e), ("val_loss_m", loss_m)):
            # sync_dist of equal values changes nothing; it keeps Lightning from warning under DDP.
            self.log(name, value.float(), on_epoch=True, prog_bar=name == "val_loss", sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self.log("kernel_h", self.kernel_width(self.current_epoch), on_epoch=True, on_step=False, sync_dist=True)

    def configure_optimizers(self) -> Any:
        t = self.cfg.training
        # foreach: one multi-tensor update per step instead of a Python loop over the 40-odd
        # parameters (Adam's CPU default); the same update rule.
        opt = torch.optim.Adam(self.net.parameters(), lr=t.lr, weight_decay=t.weight_decay, foreach=True)
        if t.schedule == "cosine":
            sched: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, T_max=max(t.epochs - 1, 1), eta_min=t.lr_min
            )
        else:
            gamma = (t.lr_min / t.lr) ** (1.0 / max(t.epochs - 1, 1))
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class Throughput(L.Callback):
    """Logs training jets/s per epoch (shown in the progress bar) and keeps the totals:
    ``seconds`` of training batches (validation excluded: Lightning runs it inside the training
    epoch), ``val_seconds`` of validation."""

    def __init__(self) -> None:
        self.jets = 0
        self.seconds = 0.0
        self.val_seconds = 0.0
        self._t0 = 0.0
        self._v0 = 0.0
        self._val_epoch = 0.0
        self._n = 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:  # noqa: ARG002 -- Lightning's hook
        self._v0 = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:  # noqa: ARG002 -- Lightning's hook
        dt = time.perf_counter() - self._v0
        self._val_epoch += dt
        self.val_seconds += dt

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:  # noqa: ARG002 -- Lightning's hook
        self._t0, self._n, self._val_epoch = time.perf_counter(), 0, 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,  # noqa: ARG002
                           batch_idx: int) -> None:  # noqa: ARG002 -- Lightning's hook
        self._n += int(batch[0].shape[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dt = time.perf_counter() - self._t0 - self._val_epoch
        # All ranks' jets (under DDP each rank sees only its shard of every batch).
        n = int(trainer.strategy.reduce(torch.tensor(float(self._n), dtype=torch.float64, device=pl_module.device), reduce_op="sum").item())
        self.jets += n
        self.seconds += dt
        pl_module.log("jets_per_s", n / max(dt, 1e-9), prog_bar=True, on_epoch=True, sync_dist=True)


class StopAfter(L.Callback):
    """Ends fitting after ``n`` epochs, as an interruption would (used to test resuming)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:  # noqa: ARG002 -- Lightning's hook
        if trainer.current_epoch + 1 >= self.n:
            trainer.should_stop = True
