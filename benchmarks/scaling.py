"""How jetcalib's costs grow with the work: training time vs training-set size and epochs,
``jetcalib calibrate`` jets/s vs file count and workers (1 process, 2 processes, a dask
``LocalCluster``), generation events/s vs ⟨μ⟩ and workers; peak memory for each point.

    nice -n 10 .venv/bin/python benchmarks/scaling.py [--quick] [--only train,calibrate,generate]
        [--out benchmarks/results]

Every point runs in a fresh Python process (this script with ``--point``), so that its peak
memory is its own: the largest ``VmHWM`` of the point's process and its children (workers).
Training points fit the default network on toy jets (training cost per jet does not depend on
what the jets are); calibration points run the ``jetcalib calibrate`` command (file read,
features, flags, onnxruntime, file write) on toy Parquet files with a default-config model
trained for one epoch and exported to ONNX; generation points time the whole simulation chain
of one chunk (Pythia, pile-up overlay, calorimeter, clustering, grooming, substructure) at a
fixed ⟨μ⟩ next to bare Pythia on the same events, and ``jetcalib generate`` with 1 and 2 workers.

Writes ``scaling.json``, ``scaling.md`` (tables) and ``scaling.png`` (curves) to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
JETCALIB = [sys.executable, "-c", "import sys; from jetcalib.cli import main; sys.exit(main())"]


def _vm_hwm_mb() -> float:
    """This process's peak resident set (``VmHWM``), in MB. Not ``ru_maxrss``: Linux keeps
    that across ``execve``, so a child started by a large parent would report the parent's."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """Largest peak resident set of this process and of any child it waited for, in MB
    (children: ``ru_maxrss``, which for them starts at this small process's size)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: kB
    return max(_vm_hwm_mb(), kids)


# --- the points (each in its own process) ----------------------------------------------------
def point_train(n_jets: int, epochs: int) -> dict:
    from jetcalib.dnn import DNNConfig, train
    from jetcalib.dnn.toys import toy_jets

    table = toy_jets(n_jets, seed=11)
    cfg = DNNConfig.model_validate({"training": {"epochs": epochs, "patience": epochs + 1}})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = train(table, Path(tmp) / "m", cfg, progress=False)
        wall = time.perf_counter() - t0
    s = model.summary
    return {"wall_s": round(wall, 2), "jets_per_s": s["jets_per_s"], "n_train": s["n_train"],
            "epochs_run": s["epochs_run"], "phases": s["phase_seconds"], "gemm": s["gemm"]}


def point_calibrate(model: str, files: list[str], workers: int, dask: bool, outdir: str) -> dict:
    import pyarrow.parquet as pq

    Path(outdir).mkdir(parents=True, exist_ok=True)
    cmd = [*JETCALIB, "calibrate", model, *files, "-o", outdir]
    cluster = None
    if dask:
        from dask.distributed import LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        cmd += ["--scheduler", cluster.scheduler_address]
    else:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak_workers = None
    if cluster is not None:
        from dask.distributed import Client

        with Client(cluster) as client:  # the cluster's worker processes are not our children
            peak_workers = round(max(client.run(_vm_hwm_mb).values()))
        cluster.close()
    if proc.returncode != 0:
        raise SystemExit(f"calibrate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return {"wall_s": round(wall, 2), "jets": n, "jets_per_s": round(n / wall),
            "dask_worker_peak_mb": peak_workers}


def point_generate_mu(mu: float, n_events: int) -> dict:
    from sim_throughput import measure

    m = measure(n_events, "dijet", mu)
    bare, full = m["bare_s"], m["full_s"]
    return {"mu": mu, "events": n_events, "bare_events_per_s": round(n_events / bare, 1),
            "events_per_s": round(n_events / full, 1), "ms_per_event": round(1e3 * full / n_events, 2),
            "bare_ms_per_event": round(1e3 * bare / n_events, 2), "jets": len(m["table"]["event"]),
            "stage_ms_per_event": {k: round(1e3 * v / n_events, 2) for k, v in m["stage_s"].items()}}


def point_generate_workers(workers: int, n_events: int, outdir: str) -> dict:
    out = Path(outdir) / f"gen_w{workers}.parquet"
    cmd = [*JETCALIB, "generate", "--process", "dijet", "--events", str(n_events), "--mu", "40:40",
           "--workers", str(workers), "--seed", "5", "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"generate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"workers": workers, "events": n_events, "wall_s": round(wall, 2),
            "events_per_s": round(n_events / wall, 1)}


POINTS = {"train": point_train, "calibrate": point_calibrate, "generate_mu": point_generate_mu,
          "generate_workers": point_generate_workers}


def run_point(kind: str, **kwargs) -> dict:
    """``POINTS[kind](**kwargs)`` in a fresh process; its result with ``peak_mb`` added."""
    spec = json.dumps({"kind": kind, "kwargs": kwargs})
    proc = subprocess.run([sys.executable, __file__, "--point", spec], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"point {spec} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {kind} {kwargs if kind != 'calibrate' else {k: v for k, v in kwargs.items() if k != 'files'} | {'n_files': len(kwargs['files'])}}"
          f" -> {({k: v for k, v in result.items() if k != 'stage_ms_per_event'})}", file=sys.stderr, flush=True)
    return result


# --- the campaign -----------------------------------------------------------------------------
def campaign_train(quick: bool) -> dict:
    sizes = [20_000, 60_000] if quick else [100_000, 300_000, 600_000]
    epochs = [1, 2] if quick else [2, 4, 8]
    fixed_epochs = epochs[1]
    by_size = [{"n_jets": n, "epochs": fixed_epochs, **run_point("train", n_jets=n, epochs=fixed_epochs)} for n in sizes]
    by_epochs = [{"n_jets": sizes[0], "epochs": e, **run_point("train", n_jets=sizes[0], epochs=e)} for e in epochs]
    return {"by_size": by_size, "by_epochs": by_epochs}


def campaign_calibrate(quick: bool, work: Path) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jetcalib.deploy import export_onnx
    from jetcalib.dnn import DNNConfig, train
    from jetcalib.dnn.toys import toy_jets

    model = train(toy_jets(20_000, seed=1), work / "model", DNNConfig.model_validate({"training": {"epochs": 1}}),
                  progress=False)
    onnx = export_onnx(model, work / "model.onnx")["onnx"]
    total = 200_000 if quick else 1_000_000
    table = toy_jets(total, seed=2)
    layouts = [1, 4]
    results = []
    for n_files in layouts:
        per = total // n_files
        files = []
        for i in range(n_files):
            f = work / f"jets_{n_files}x_{i}.parquet"
            pq.write_table(pa.table({k: np.asarray(v)[i * per:(i + 1) * per] for k, v in table.items()}), f)
            files.append(str(f))
        for workers, dask in ((1, False), (2, False), (2, True)):
            if n_files == 1 and workers > 1:
                continue  # one file is one task: a second worker would idle
            out = work / f"out_{n_files}_{workers}_{int(dask)}"
            r = run_point("calibrate", model=str(onnx), files=files, workers=workers, dask=dask, outdir=str(out))
            results.append({"files": n_files, "workers": workers, "scheduler": "dask LocalCluster" if dask else "local",
                            **r})
    return {"model": "default config, 1 epoch on 20k toy jets, exported to ONNX", "total_jets": total, "points": results}


def campaign_generate(quick: bool, work: Path) -> dict:
    n = 40 if quick else 300
    by_mu = [run_point("generate_mu", mu=mu, n_events=n) for mu in (10.0, 40.0, 80.0, 140.0)]
    n_w = 40 if quick else 400
    by_workers = [run_point("generate_workers", workers=w, n_events=n_w, outdir=str(work)) for w in (1, 2)]
    return {"by_mu": by_mu, "by_workers": by_workers}


def linear_in_mu(by_mu: list[dict]) -> dict:
    """Least-squares ms/event = a + b·μ over the points, and the largest relative excess of a
    point over that line (a cost growing faster than linearly shows as a large excess at the
    ends with the line bending up)."""
    import numpy as np

    mu = np.array([p["mu"] for p in by_mu])
    ms = np.array([p["ms_per_event"] for p in by_mu])
    b, a = np.polyfit(mu, ms, 1)
    # cost per event per unit μ between successive points: constant for linear, growing for
    # super-linear growth
    slopes = np.diff(ms) / np.diff(mu)
    return {"intercept_ms": round(float(a), 2), "slope_ms_per_mu": round(float(b), 3),
            "max_rel_residual": round(float(np.max(np.abs(ms - (a + b * mu)) / ms)), 3),
            "segment_slopes_ms_per_mu": [round(float(s), 3) for s in slopes],
            "superlinear": bool(slopes[-1] > 1.5 * max(slopes[0], 1e-9))}


def write_report(res: dict, out: Path) -> None:
    lines = ["# Cost scaling", "",
             f"`benchmarks/scaling.py`{' --quick' if res['quick'] else ''}, {res['machine']}. "
             "Every point is a fresh process; peak memory is the largest resident set of it and its "
             "workers (VmHWM / ru_maxrss).", ""]
    if "train" in res:
        t = res["train"]
        lines += ["## Training (default network, toy jets, `train()`)", "",
                  "| jets in table | train jets | epochs | wall s | epochs s | validation s | closure s | jets/s | peak MB |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in t["by_size"] + t["by_epochs"]:
            ph = p["phases"]
            lines.append(f"| {p['n_jets']:,} | {p['n_train']:,} | {p['epochs_run']} | {p['wall_s']:.1f} | "
                         f"{ph.get('epochs', 0):.1f} | {ph.get('validation', 0):.1f} | {ph.get('closure', 0):.1f} | "
                         f"{p['jets_per_s']:,.0f} | {p['peak_mb']:,.0f} |")
        lines.append("")
    if "calibrate" in res:
        c = res["calibrate"]
        lines += [f"## `jetcalib calibrate` ({c['total_jets']:,} jets in all; {c['model']})", "",
                  "Wall time of the whole command: start-up, model load, read, features, flags, "
                  "onnxruntime, write.", "",
                  "| files | workers | scheduler | wall s | jets/s | peak MB |", "|---:|---:|---|---:|---:|---:|"]
        for p in c["points"]:
            peak = p["dask_worker_peak_mb"] if p.get("dask_worker_peak_mb") else p["peak_mb"]
            lines.append(f"| {p['files']} | {p['workers']} | {p['scheduler']} | {p['wall_s']:.1f} | "
                         f"{p['jets_per_s']:,} | {peak:,.0f} |")
        lines += ["", "Peak memory: the largest process (the command, a local worker or a dask worker).", ""]
    if "generate" in res:
        g = res["generate"]
        lin = g["linear_fit"]
        lines += ["## Generation (dijet slice 1, the whole chain of one chunk)", "",
                  "| ⟨μ⟩ | events | chain ms/event | bare Pythia ms/event | chain/bare | events/s | peak MB |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for p in g["by_mu"]:
            lines.append(f"| {p['mu']:.0f} | {p['events']} | {p['ms_per_event']:.1f} | {p['bare_ms_per_event']:.1f} | "
                         f"{p['ms_per_event'] / p['bare_ms_per_event']:.2f} | {p['events_per_s']:.1f} | {p['peak_mb']:,.0f} |")
        lines += ["", f"Fit ms/event = {lin['intercept_ms']} + {lin['slope_ms_per_mu']}·μ; largest residual "
                  f"{100 * lin['max_rel_residual']:.1f} %; cost per unit μ between successive points "
                  f"{lin['segment_slopes_ms_per_mu']} ms: "
                  f"{'grows faster than linearly' if lin['superlinear'] else 'not faster than linear'}.", "",
                  "| workers | events (⟨μ⟩ = 40) | wall s (incl. start-up) | events/s | peak MB |",
                  "|---:|---:|---:|---:|---:|"]
        for p in g["by_workers"]:
            lines.append(f"| {p['workers']} | {p['events']} | {p['wall_s']:.1f} | {p['events_per_s']:.1f} | {p['peak_mb']:,.0f} |")
        lines.append("")
    lines += ["![cost curves](scaling.png)", ""]
    (out / "scaling.md").write_text("\n".join(lines))


def plot(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("train", "calibrate", "generate") if k in res]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "train":
            t = res["train"]
            for series, x, label in ((t["by_size"], "n_train", f"{t['by_size'][0]['epochs']} epochs, vs jets"),):
                ax.plot([p[x] * p["epochs_run"] for p in series], [p["wall_s"] for p in series], "o-", label=label)
            ax.plot([p["n_train"] * p["epochs_run"] for p in t["by_epochs"]], [p["wall_s"] for p in t["by_epochs"]],
                    "s--", label=f"{t['by_epochs'][0]['n_jets']:,} jets, vs epochs")
            ax.set_xlabel("training jets × epochs")
            ax.set_ylabel("training wall time [s]")
            ax.set_title("train()")
        elif key == "calibrate":
            pts = res["calibrate"]["points"]
            labels = [f"{p['files']} file{'s' if p['files'] > 1 else ''}\n{p['workers']} w {'dask' if 'dask' in p['scheduler'] else ''}"
                      for p in pts]
            ax.bar(range(len(pts)), [p["jets_per_s"] for p in pts])
            ax.set_xticks(range(len(pts)), labels, fontsize=8)
            ax.set_ylabel("jets/s, whole command")
            ax.set_title(f"jetcalib calibrate, {res['calibrate']['total_jets']:,} jets")
        else:
            g = res["generate"]
            mu = [p["mu"] for p in g["by_mu"]]
            ax.plot(mu, [p["ms_per_event"] for p in g["by_mu"]], "o-", label="full chain")
            ax.plot(mu, [p["bare_ms_per_event"] for p in g["by_mu"]], "s--", label="bare Pythia")
            lin = g["linear_fit"]
            ax.plot(mu, [lin["intercept_ms"] + lin["slope_ms_per_mu"] * m for m in mu], ":", label="linear fit")
            ax.set_xlabel("⟨μ⟩")
            ax.set_ylabel("ms per event")
            ax.set_title("generation cost vs pile-up")
        ax.grid(alpha=0.3)
        if key != "calibrate":
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--point", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small points (checks the machinery, minutes)")
    ap.add_argument("--only", default="train,calibrate,generate")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if args.point:
        spec = json.loads(args.point)
        result = POINTS[spec["kind"]](**spec["kwargs"])
        result["peak_mb"] = round(_peak_mb())
        print(json.dumps(result))
        return
    import platform

    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"quick": args.quick, "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                 f"torch {torch.__version__}, load average at start {os.getloadavg()[0]:.1f}",
                 "date": time.strftime("%Y-%m-%d")}
    only = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="jetcalib-scaling-") as tmp:
        work = Path(tmp)
        if "train" in only:
            print("training:", file=sys.stderr)
            res["train"] = campaign_train(args.quick) | {"date": res["date"]}
        if "calibrate" in only:
            print("calibrate:", file=sys.stderr)
            res["calibrate"] = campaign_calibrate(args.quick, work) | {"date": res["date"]}
        if "generate" in only:
            print("generation:", file=sys.stderr)
            res["generate"] = campaign_generate(args.quick, work) | {"date": res["date"]}
            res["generate"]["linear_fit"] = linear_in_mu(res["generate"]["by_mu"])
    suffix = "_quick" if args.quick else ""
    previous = out / f"scaling{suffix}.json"
    if set(only) != {"train", "calibrate", "generate"} and previous.is_file():
        # a partial rerun keeps the other campaigns' results (each says when it was measured)
        kept = {k: v for k, v in json.loads(previous.read_text()).items() if k in ("train", "calibrate", "generate")
                and k not in only}
        res = {**kept, **res}
    (out / f"scaling{suffix}.json").write_text(json.dumps(res, indent=1))
    if not args.quick:
        write_report(res, out)
        plot(res, out)
    print(json.dumps({k: v for k, v in res.items() if k in ("machine",)}))
    print(f"wrote {out / f'scaling{suffix}.json'}" + ("" if args.quick else f", {out / 'scaling.md'}, {out / 'scaling.png'}"))


if __name__ == "__main__":
    main()
