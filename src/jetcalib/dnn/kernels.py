"""Faster float32 dense layers for training on CPUs: the matrix products of :class:`Linear`
through oneDNN instead of ATen's BLAS.

Why by hand: PyTorch's CPU wheels do float32 ``mm``/``addmm`` with Intel MKL, which does not use
AVX-512 on AMD processors; on this project's AMD EPYC (2 cores) MKL reaches 150-170 GFLOP/s on
the trunk's ``[4096, 256] x [256, 256]`` while oneDNN, also inside the wheel, reaches 280-360
(onnxruntime's MLAS ~400). PyTorch routes float32 matmuls to oneDNN only at reduced precision
(bf16/tf32 modes), which would change what the network learns. Here the same float32 product is
a ``torch.library`` custom operator (so it works in eager mode, under autograd and under
``torch.compile``) calling oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the kernel
inductor itself uses for CPU inference), with a backward made of two more such products.

Nothing here changes a model: :class:`Linear` is ``nn.Linear`` (same parameters, same
state-dict keys, same ONNX export), and takes the oneDNN path only inside :func:`use_gemm`
with ``"onednn"``, on CPU float32 tensors. :func:`choose_gemm` ("auto") checks on a small
product that oneDNN is there, agrees with ATen and is faster on this machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

__all__ = ["GEMMS", "Linear", "choose_gemm", "gemm_in_use", "tune_allocator", "use_gemm"]

#: Accepted values of ``train(gemm=)`` / ``jetcalib train --gemm``.
GEMMS = ("auto", "onednn", "aten")

_STATE = {"gemm": "aten"}


def _onednn_mm_nt(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """a @ b.T (+ bias), float32, by oneDNN; a ``[M, K]``, b ``[N, K]`` (strided views accepted)."""
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")


@torch.library.custom_op("jetcalib::mm_nt", mutates_args=())
def _mm_nt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _onednn_mm_nt(a, b, None)


@_mm_nt.register_fake
def _mm_nt_fake(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.new_empty(a.shape[0], b.shape[0])


@torch.library.custom_op("jetcalib::linear", mutates_args=())
def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return _onednn_mm_nt(x, weight, bias)


@_linear.register_fake
def _linear_fake(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # noqa: ARG001 -- the op's signature
    return x.new_empty(x.shape[0], weight.shape[0])


def _setup(ctx: torch.autograd.function.FunctionCtx, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:  # noqa: ARG001 -- the register_autograd signature
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None  # type: ignore[attr-defined]


def _backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    x, weight = ctx.saved_tensors  # type: ignore[attr-defined]
    # y = x W^T + b: dx = g W, dW = g^T x, db = Σ_rows g. oneDNN copies a strided left
    # operand itself, slowly (1.5 ms for [256, 4096] on 2 cores); an explicit transposed copy
    # first takes 0.5 ms, and the product with a contiguous left operand is then faster.
    grad_x = _mm_nt(grad, weight.t()) if ctx.needs_input_grad[0] else None  # type: ignore[attr-defined]
    grad_w = _mm_nt(grad.t().contiguous(), x.t()) if ctx.needs_input_grad[1] else None  # type: ignore[attr-defined]
    grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None  # type: ignore[attr-defined]
    return grad_x, grad_w, grad_b


_linear.register_autograd(_backward, setup_context=_setup)


class Linear(nn.Linear):
    """``nn.Linear`` whose float32 CPU product runs on oneDNN inside ``use_gemm("onednn")``
    (module docstring); identical parameters, state dict and export otherwise. Inputs
    ``[..., in_features]`` → ``[..., out_features]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_STATE["gemm"] == "onednn" and x.device.type == "cpu" and x.dtype == torch.float32
                and self.weight.dtype == torch.float32 and not torch.jit.is_tracing()
                and not torch.onnx.is_in_onnx_export()):
            flat = x.reshape(-1, x.shape[-1])
            return _linear(flat, self.weight, self.bias).reshape(*x.shape[:-1], self.out_features)
        return super().forward(x)


def gemm_in_use() -> str:
    """The product :class:`Linear` uses now: ``"onednn"`` or ``"aten"``."""
    return _STATE["gemm"]


@contextlib.contextmanager
def use_gemm(gemm: Literal["onednn", "aten"]) -> Iterator[None]:
    """Within the block, :class:`Linear` computes its CPU float32 products with ``gemm``."""
    if gemm not in ("onednn", "aten"):
        raise ValueError(f"unknown gemm {gemm!r}; onednn or aten")
    before = _STATE["gemm"]
    _STATE["gemm"] = gemm
    try:
        yield
    finally:
        _STATE["gemm"] = before


def _onednn_works() -> bool:
    """oneDNN's matmul is in this torch build and agrees with ATen's (forward and gradients)."""
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 48, generator=g, requires_grad=True)
        w = torch.randn(32, 48, generator=g, requires_grad=True)
        b = torch.randn(32, generator=g, requires_grad=True)
        up = torch.randn(64, 32, generator=g)
        ref = nn.functional.linear(x, w, b)
        ref_grads = torch.autograd.grad(ref, (x, w, b), up)
        out = _linear(x, w, b)
        grads = torch.autograd.grad(out, (x, w, b), up)
    except (RuntimeError, NotImplementedError, AttributeError):
        return False
    pairs = [(out, ref), *zip(grads, ref_grads, strict=True)]
    return all(torch.allclose(a, r, rtol=1e-4, atol=1e-4) for a, r in pairs)


def _seconds(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def choose_gemm(gemm: str, device_type: str = "cpu", width: int = 256, batch: int = 4096) -> str:
    """The product :class:`Linear` should use for a fit on ``device_type``: ``gemm`` itself
    when ``"aten"``; ``"onednn"`` when asked and it works (else :class:`ValueError`, one line);
    for ``"auto"``, ``"onednn"`` on a CPU where it works and times faster than ATen on one
    ``[batch, width] x [width, width]`` product with the current threads, else ``"aten"``.
    Small layers (width < 128 or batch < 1024) stay on ATen under ``"auto"``: there oneDNN's
    per-call set-up is not repaid."""
    if gemm not in GEMMS:
        raise ValueError(f"unknown gemm {gemm!r}; one of {', '.join(GEMMS)}")
    if gemm == "aten" or device_type != "cpu":
        return "aten"
    works = _onednn_works()
    if gemm == "onednn":
        if not works:
            raise ValueError("gemm onednn: this torch build has no working oneDNN matmul; use --gemm aten")
        return "onednn"
    if not works or width < 128 or batch < 1024:
        return "aten"
    g = torch.Generator().manual_seed(1)
    a = torch.randn(batch, width, generator=g)
    w = torch.randn(width, width, generator=g)
    with torch.no_grad():
        t_aten = _seconds(lambda: nn.functional.linear(a, w))
        t_onednn = _seconds(lambda: _onednn_mm_nt(a, w, None))
    return "onednn" if t_onednn < 0.9 * t_aten else "aten"


#: glibc ``mallopt`` parameters and the values :func:`tune_allocator` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest; a [4096, 256] float32 activation is 4 MiB
_TRIM_THRESHOLD = 512 * 1024 * 1024


def tune_allocator() -> bool:
    """Keep the training steps' activations in the heap (glibc only; True if set).

    By default glibc serves each 4 MiB activation with a fresh ``mmap`` and gives it back on
    free, so every operator of every step page-faults and zeroes its output anew: on 2 cores
    that made SiLU, LayerNorm and the residual adds 2-3 x slower inside a fit than in a loop of
    the same steps (measured: 33-38k vs 41-49k jets/s for the default network). Process-wide and
    permanent, like ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``: up to 512 MiB of
    freed memory stays with the process instead of returning to the system."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
