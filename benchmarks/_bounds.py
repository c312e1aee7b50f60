"""Hardware bounds shared by the benchmarks: FLOPs per jet of a network (counted by PyTorch's
own ``FlopCounterMode``, forward alone or forward + backward) and the float32 matrix-product rate
this CPU reaches with a given number of threads, measured with every library in the stack
(torch's ATen/MKL, oneDNN as jetcalib's training uses it, onnxruntime's MLAS). The bound is
FLOPs per jet against the fastest of the three: the jets/s a perfect runtime would reach if the
dense layers were all it had to do (element-wise work is counted by FlopCounterMode only where it
is a matrix product, so the bound is optimistic).

Why the best of three: torch's CPU wheels do float32 ``mm`` with MKL, which does not use
AVX-512 on AMD processors; a bound built on it alone is 2-2.5x too low there (onnxruntime then
showed "184 % of bound").
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def network_flops_per_jet(net, n_inputs: int, *, backward: bool, batch: int = 512) -> float:
    """FLOPs per jet of ``net`` on ``[batch, n_inputs]`` float32 rows: the forward pass, plus
    the backward pass of a scalar loss on both outputs when ``backward`` (training)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(batch, n_inputs)
    counter = FlopCounterMode(display=False)
    with counter:
        if backward:
            out = net(x)
            loss = sum(o.float().sum() for o in (out if isinstance(out, tuple) else (out,)))
            loss.backward()
        else:
            with torch.no_grad():
                net(x)
    if backward:
        net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def _onnx_matmul(width: int) -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((width, width)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["y"])], "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def matmul_rates(threads: int, batch: int = 4096, width: int = 256, repeat: int = 3) -> dict[str, float]:
    """Float32 FLOP/s of ``[batch, width] x [width, width]`` with ``threads`` threads, per
    library: ``torch`` (ATen, MKL), ``onednn`` (the product jetcalib's training uses on CPU,
    absent where the build lacks it) and ``onnxruntime``."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(batch, width)
    w = torch.randn(width, width)
    flop = 2 * batch * width * width
    n_iter = max(1, int(2e9 / flop))  # ~2 GFLOP per timing

    def rate(one: Callable[[], object]) -> float:
        one()

        def run() -> None:
            for _ in range(n_iter):
                one()
        return n_iter * flop / best_seconds(run, repeat)

    from jetcalib.dnn.kernels import Linear, choose_gemm, use_gemm

    try:
        # refuses a build without a working oneDNN matmul (its self-check needs autograd, so
        # outside inference mode)
        onednn = choose_gemm("onednn") == "onednn"
    except ValueError:
        onednn = False
    out = torch.empty(batch, width)
    rates: dict[str, float] = {}
    with torch.inference_mode():
        rates["torch"] = rate(lambda: torch.matmul(a, w, out=out))
        if onednn:
            layer = Linear(width, width, bias=False)
            with use_gemm("onednn"):
                rates["onednn"] = rate(lambda: layer(a))
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(_onnx_matmul(width), opts, providers=["CPUExecutionProvider"])
    an = np.ascontiguousarray(a.numpy())
    rates["onnxruntime"] = rate(lambda: sess.run(None, {"a": an}))
    return rates


def describe_rates(rates: dict[str, float]) -> str:
    """``torch 160, onednn 320, onnxruntime 400 GFLOP/s`` (best marked)."""
    best = max(rates, key=rates.__getitem__)
    return ", ".join(f"{k} {v / 1e9:.0f}{'*' if k == best else ''}" for k, v in rates.items()) + " GFLOP/s"
