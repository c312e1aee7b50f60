"""Many files at once: 10 Parquet files × 200k toy jets calibrated by ``jetcalib calibrate`` with
2 local workers and with 1 process; peak memory per worker, identical outputs, jets/s.

    nice -n 10 .venv/bin/python benchmarks/calibrate_many.py [--model DIR] [--files 10]
        [--jets 200000] [--workers 2] [--keep DIR]

Without --model it trains a default-config DNN (width 256, 6 blocks) for one epoch on 20k toy
jets and exports it to ONNX; the command then runs on onnxruntime (its default). Peak memory per
worker is measured twice: by this script, reading ``VmHWM`` from ``/proc/<pid>/status`` of every
worker process (``multiprocessing.spawn`` children of the command) every 0.1 s while they live,
and as the command itself reports it (each worker's ``VmHWM`` after its last file).
Target: < 1.5 GB per worker, outputs identical to one process.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_watched(cmd: list[str]) -> tuple[float, str, dict[int, float]]:
    """Run ``cmd``; returns (wall seconds, its output, {worker pid: peak VmHWM MB})."""
    import psutil

    peaks: dict[int, float] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def watch() -> None:
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                children = parent.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for child in children:
                try:
                    if "spawn_main" not in " ".join(child.cmdline()):
                        continue  # the resource tracker, not a worker
                except psutil.Error:
                    continue
                hwm = vm_hwm_mb(child.pid)
                if hwm is not None:
                    peaks[child.pid] = max(peaks.get(child.pid, 0.0), hwm)
            time.sleep(0.1)

    t0 = time.perf_counter()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}):\n{out}")
    return wall, out, peaks


def same_tables(a: Path, b: Path) -> bool:
    from jetcalib.io import read_table

    ta, ma = read_table(a)
    tb, mb = read_table(b)
    if list(ta) != list(tb):
        return False
    for name in ta:
        x, y = np.asarray(ta[name]), np.asarray(tb[name])
        if x.dtype != y.dtype or x.tobytes() != y.tobytes():
            return False
    da, db = ma.model_dump(exclude={"created"}), mb.model_dump(exclude={"created"})
    # the provenance records each run's own command line (--workers N, -o DIR): not a result
    for d in (da, db):
        (d.get("environment") or {}).pop("command_line", None)
    return da == db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="calibration to apply (default: a toy-trained DNN as .onnx)")
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--jets", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = ap.parse_args()

    from jetcalib.dnn.toys import toy_jets
    from jetcalib.io import write_table

    tmp = tempfile.TemporaryDirectory()
    work = Path(args.keep or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = []
    for i in range(args.files):
        p = work / "in" / f"jets_{i:02d}.parquet"
        p.parent.mkdir(exist_ok=True)
        write_table(p, toy_jets(args.jets, seed=100 + i))
        inputs.append(p)
    size = sum(p.stat().st_size for p in inputs) / 1e6
    print(f"wrote {args.files} files x {args.jets:,} toy jets ({size:.0f} MB) in {time.perf_counter() - t0:.0f} s")

    cal = args.model
    if cal is None:
        import jetcalib
        from jetcalib.deploy import export_onnx
        from jetcalib.dnn import DNNConfig, train

        train(toy_jets(20_000, seed=1), work / "model", DNNConfig.from_dict({"training": {"epochs": 1}}))
        cal = str(export_onnx(jetcalib.load(work / "model"), work / "model.onnx")["onnx"])
        print(f"calibration: {cal} (default-config DNN, 1 epoch on 20k toy jets), onnxruntime")

    jetcalib_cli = str(Path(sys.executable).with_name("jetcalib"))
    runs = {}
    for workers in (args.workers, 1):
        out = work / f"out_w{workers}"
        cmd = [jetcalib_cli, "calibrate", cal, *map(str, inputs), "-o", str(out), "--workers", str(workers)]
        wall, text, peaks = run_watched(cmd)
        total = [line for line in text.splitlines() if line.startswith("total:")]
        reported = re.search(r"peak memory per worker ([\d,]+) MB", total[0] if total else "")
        runs[workers] = out
        print(f"\n--workers {workers}: {wall:.1f} s wall, {args.files * args.jets / wall:,.0f} jets/s")
        print(f"  {total[0] if total else text.strip().splitlines()[-1]}")
        if peaks:
            print("  peak RSS per worker (VmHWM, watched): "
                  + ", ".join(f"{v:,.0f} MB" for v in sorted(peaks.values())))
        elif workers == 1:
            print(f"  (one process: the command's own peak, {reported.group(1) if reported else '?'} MB)")
        if peaks:
            worst = max(peaks.values())
            print(f"  max {worst:,.0f} MB per worker: {'OK' if worst < 1500 else 'ABOVE'} the 1.5 GB target")
    identical = all(same_tables(runs[args.workers] / p.name, runs[1] / p.name) for p in inputs)
    print(f"\noutputs with {args.workers} workers identical to 1 process (every column bit for bit, "
          f"metadata except creation time and command line): {identical}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
