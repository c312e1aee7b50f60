"""Inference speed on one set of jets: the DNN on onnxruntime and on PyTorch eager, the numerical
calibration on jetcalib (numpy) and on correctionlib, and the bound for this CPU.

    nice -n 10 .venv/bin/python benchmarks/inference.py [--model DIR] [--jets 1000000]
        [--batches 1024,4096,16384,65536] [--threads 2,1] [--explore]
    nice -n 10 .venv/bin/python benchmarks/inference.py --constituents [--jets 50000] [--threads 2,1]
        [--data TABLE_WITH_CONSTITUENTS]

--constituents: the constituent network (docs/method.md#constituent-network) next to the
21-input network on the same jets (untrained weights, default configs), onnxruntime and torch
per thread count, end to end, and torch on a GPU where present.

Without --model it trains a default-config network (width 256, 6 residual blocks) for one epoch on
20k toy jets: the weights do not matter for speed, the architecture does. The numerical
calibration is fitted on 200k toy jets.

The bound: the network's forward FLOPs per jet (counted by torch's FlopCounterMode: the matrix
products of the annotation MLPs, stem, trunk, heads and mass path; element-wise work such as SiLU
and LayerNorm is not counted) against the fastest float32 matmul measured here with the same
number of threads (torch/MKL, oneDNN and onnxruntime on [4096, 256] x [256, 256], the trunk's
shape; MKL alone would understate an AMD CPU 2-2.5x), i.e. the jets/s a perfect runtime would
reach if the dense layers were all it had to do.
Timings: best of --repeat passes over all jets (the CPU is shared; the best pass is the least
disturbed one). --threads takes a list: the bound and both DNN runtimes are measured for each
count (on a loaded machine 2 threads can be slower than 1: an intra-op pool waits at every
operator for its slowest thread); the end-to-end figures use the first count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bounds import best_seconds, describe_rates, matmul_rates, network_flops_per_jet


def best_rate(fn, n_items: int, repeat: int) -> float:
    """Items per second of the fastest of ``repeat`` calls of ``fn()``."""
    return n_items / best_seconds(fn, repeat)


def session(model_bytes: bytes, threads: int, level: str = "all", sequential: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL if sequential else ort.ExecutionMode.ORT_PARALLEL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def synthetic_constituents(table: dict, seed: int) -> dict:
    """``table`` with jagged cl_*/trk_* columns of plausible sizes (Poisson 25 clusters, 15
    tracks per jet, hardest first): only the counts matter for speed."""
    import awkward as ak

    from jetcalib.io import CLUSTER_COLUMNS, TRACK_COLUMNS

    rng = np.random.default_rng(seed)
    n = len(table["e_reco"])
    out = dict(table)
    for cols, mean in ((CLUSTER_COLUMNS, 25), (TRACK_COLUMNS, 15)):
        counts = rng.poisson(mean, n)
        energy = rng.exponential(10.0, int(counts.sum())).astype(np.float32) + 0.5
        for c in cols:
            values = energy if c in ("cl_e", "trk_pt") else rng.random(energy.size).astype(np.float32)
            out[c] = ak.unflatten(values, counts)
    return out


def constituent_rates(args: argparse.Namespace) -> None:
    """jets/s of the default 21-input network and of the default constituent network on the
    same jets: onnxruntime and torch eager at batch 4096 for each --threads count, the end-to-end
    ``calibrate`` (padding from awkward included) with the first count, torch on CUDA if present."""
    import torch

    from jetcalib.deploy import OnnxCalibration
    from jetcalib.dnn import DNNCalibration, DNNConfig
    from jetcalib.dnn.network import build_network
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.features import Normalisation, feature_matrix
    from jetcalib.io import read_table

    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f} "
          "(timings on a loaded machine are not final)")
    if args.data:
        full, _ = read_table(args.data)
        table = {k: v[: args.jets] for k, v in full.items()}
    else:
        table = synthetic_constituents(toy_jets(args.jets, seed=2), seed=3)
    n = len(table["e_reco"])
    tmp = tempfile.TemporaryDirectory()
    models = {}
    for name, raw in (("21 inputs", {}), ("constituents", {"inputs": "constituents"})):
        torch.manual_seed(0)
        cfg = DNNConfig.from_dict(raw)
        norm = Normalisation.fit(feature_matrix(table, cfg.features), cfg.features)
        model = DNNCalibration(build_network(cfg), cfg, norm)
        model.save(Path(tmp.name) / name.replace(" ", "_"))  # a content hash for the export
        models[name] = model
    for name, model in models.items():
        print(f"{name}: {sum(p.numel() for p in model.net.parameters()):,} parameters")
    print(f"{n:,} jets; constituent network: K_c = {models['constituents'].config.constituents.max_clusters}, "
          f"K_t = {models['constituents'].config.constituents.max_tracks}")
    rows = {k: m.network_inputs(table) for k, m in models.items()}
    for th in thread_counts:
        torch.set_num_threads(th)
        print(f"\n== {th} thread{'s' if th > 1 else ''}, batch 4096 ==")
        print(f"{'network':<14} {'onnxruntime':>14} {'torch eager':>14}")
        for name, model in models.items():
            ort_cal = OnnxCalibration.from_dnn(model, threads=th)
            r_ort = best_rate(lambda c=ort_cal, x=rows[name]: c.predict_responses(x, batch_size=4096), n, args.repeat)
            r_torch = best_rate(lambda m=model, x=rows[name]: m.predict_responses(x, batch_size=4096), n, args.repeat)
            print(f"{name:<14} {r_ort:>12,.0f}/s {r_torch:>12,.0f}/s")
    torch.set_num_threads(thread_counts[0])
    print(f"\nend to end calibrate(table), onnxruntime, {thread_counts[0]} threads (padding from awkward included):")
    for name, model in models.items():
        cal = OnnxCalibration.from_dnn(model, threads=thread_counts[0])
        print(f"  {name:<14} {best_rate(lambda c=cal: c.calibrate(table), n, args.repeat):>12,.0f} jets/s")
    if torch.cuda.is_available():
        print(f"\nGPU ({torch.cuda.get_device_name(0)}), torch eager, batch 65536:")
        for name, model in models.items():
            net = model.net.to("cuda").eval()
            x = model._network_rows(rows[name][:65536]).to("cuda")

            def run(net=net, x=x) -> None:
                with torch.inference_mode():
                    for _ in range(10):
                        net(x)
                torch.cuda.synchronize()

            run()
            print(f"  {name:<14} {best_rate(run, 10 * x.shape[0], args.repeat):>12,.0f} jets/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="DNN model directory (default: train one on toy jets)")
    ap.add_argument("--jets", type=int, default=1_000_000)
    ap.add_argument("--batches", default="1024,4096,16384,65536")
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--explore", action="store_true",
                    help="also time onnxruntime variants (optimisation level, parallel mode) at batch 4096")
    ap.add_argument("--constituents", action="store_true",
                    help="instead: jets/s of the constituent network (inputs: constituents, default "
                    "constituents section) next to the 21-input network, onnxruntime and torch, per "
                    "--threads count, and torch on a GPU where present (untrained weights)")
    ap.add_argument("--data", help="with --constituents: a table generated with --constituents whose first "
                    "--jets jets are timed (default: synthetic constituents on toy jets)")
    args = ap.parse_args()
    if args.constituents:
        constituent_rates(args)
        return
    batches = [int(b) for b in args.batches.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    threads = thread_counts[0]

    import torch

    torch.set_num_threads(threads)
    import onnxruntime as ort

    import jetcalib
    from jetcalib.deploy import CorrectionlibCalibration, OnnxCalibration
    from jetcalib.deploy.onnx_export import _wrapped, onnx_bytes
    from jetcalib.dnn import DNNConfig, train
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.features import feature_matrix
    from jetcalib.numerical import NumericalCalibration

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, onnxruntime {ort.__version__}, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    tmp = tempfile.TemporaryDirectory()
    if args.model:
        model_dir = Path(args.model)
    else:
        model_dir = Path(tmp.name) / "model"
        cfg = DNNConfig.from_dict({"training": {"epochs": 1}})
        t0 = time.perf_counter()
        train(toy_jets(20_000, seed=1), model_dir, cfg, threads=threads)
        print(f"trained a default-config model on 20k toy jets, 1 epoch: {time.perf_counter() - t0:.0f} s")
    model = jetcalib.load(model_dir)
    print(f"network: width {model.config.network.width}, {model.config.network.n_blocks} blocks, "
          f"{sum(p.numel() for p in model.net.parameters()):,} parameters")

    table = toy_jets(args.jets, seed=2)
    x = np.ascontiguousarray(feature_matrix(table, model.features))
    n = len(x)
    print(f"{n:,} toy jets, {x.shape[1]} features")

    flops = network_flops_per_jet(model.net, len(model.features), backward=False)
    width = model.config.network.width
    print(f"\nforward FLOPs per jet (FlopCounterMode): {flops / 1e6:.3f} M")
    data = onnx_bytes(model)
    wrapped = _wrapped(model)  # the exported graph as a torch module: the same work
    xt = torch.from_numpy(x)

    def ort_pass(s, b: int):
        def run() -> None:
            for i in range(0, n, b):
                s.run(None, {"features": x[i : i + b]})
        return run

    def torch_pass(b: int):
        def run() -> None:
            with torch.inference_mode():
                for i in range(0, n, b):
                    wrapped(xt[i : i + b])
        return run

    for th in thread_counts:
        # --- the bound for this thread count -------------------------------------------------
        rates = matmul_rates(th, 4096, width, args.repeat + 1)
        bound = max(rates.values()) / flops
        print(f"\n== {th} thread{'s' if th > 1 else ''} ==")
        print(f"float32 matmul [4096, {width}] x [{width}, {width}]: {describe_rates(rates)} "
              f"-> bound {bound:,.0f} jets/s")
        # --- DNN: onnxruntime vs torch eager, the same graph (normalisation inside, exp) ---
        torch.set_num_threads(th)
        sess = session(data, th)
        with torch.inference_mode():
            t_e, _ = wrapped(xt[:4096])
        o_e, _ = sess.run(None, {"features": x[:4096]})
        print(f"onnxruntime vs torch, 4096 jets: max relative difference "
              f"{np.max(np.abs(o_e / t_e.numpy() - 1)):.1e}")
        print(f"{'batch':>7} {'onnxruntime':>14} {'torch eager':>14} {'ORT/torch':>10} {'ORT/bound':>10}")
        results = {}
        for b in batches:
            r_ort = best_rate(ort_pass(sess, b), n, args.repeat)
            r_torch = best_rate(torch_pass(b), n, args.repeat)
            results[b] = (r_ort, r_torch)
            print(f"{b:>7} {r_ort:>12,.0f}/s {r_torch:>12,.0f}/s {r_ort / r_torch:>9.2f}x "
                  f"{100 * r_ort / bound:>9.0f}%", flush=True)
        for b in batches:
            if b >= 4096:
                print(f"ORT at {100 * results[b][0] / bound:.0f} % of bound at batch {b}, {th} threads "
                      f"({'faster' if results[b][0] > results[b][1] else 'SLOWER'} than torch eager)")
        if args.explore:
            print("onnxruntime variants at batch 4096:")
            for level in ("basic", "extended", "all"):
                for seq in (True, False):
                    r = best_rate(ort_pass(session(data, th, level, seq), 4096), n, args.repeat)
                    print(f"  optimisation {level:<8} {'sequential' if seq else 'parallel':<10} "
                          f"{r:>12,.0f}/s ({100 * r / bound:.0f} % of bound)", flush=True)

    torch.set_num_threads(threads)
    # --- end to end: calibrate(table) with flags and kinematics ------------------------------
    print(f"\nend to end, calibrate(table) on all jets (flags, kinematics, float64 outputs), "
          f"{threads} threads:")
    ort_cal = OnnxCalibration(data, threads=threads)
    for name, cal in (("DNN, onnxruntime", ort_cal), ("DNN, torch eager", model)):
        print(f"  {name:<28} {best_rate(lambda c=cal: c.calibrate(table), n, args.repeat):>12,.0f} jets/s")
    num = NumericalCalibration.fit(toy_jets(200_000, seed=3))
    cl = CorrectionlibCalibration.from_numerical(num)
    for name, cal in (("numerical, jetcalib (numpy)", num), ("numerical, correctionlib", cl)):
        print(f"  {name:<28} {best_rate(lambda c=cal: c.calibrate(table), n, args.repeat):>12,.0f} jets/s")
    tmp.cleanup()


if __name__ == "__main__":
    main()
