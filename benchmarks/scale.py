"""Rendering at scale on tiny pipelines (aigif.scale): files/s for 1 process, 2 processes
and a local Ray cluster (2 actors), identical pixels in all, pipeline loads per run, opt-in
batching, and kill-and-resume (a SIGKILL of the driver mid-run, then the same command).

    python benchmarks/scale.py [--files 24] [--no-ray]

Wall time includes worker start-up (importing torch and diffusers in each new process).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

_DRIVER = """
import sys, torch
torch.set_num_threads(1)
from aigif.scale import render_many
for r in render_many(sys.argv[2:], sys.argv[1], device="cpu"):
    print(r.status, r.src, flush=True)
"""


def _pixels(folder: Path) -> dict:
    from PIL import Image
    out = {}
    for p in sorted(folder.glob("*.png")):
        with Image.open(p) as im:
            out[p.name] = im.convert("RGB").tobytes()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    import aigif
    import _tiny_pipelines as tp
    from aigif.render.local import content_hash
    from aigif.scale import render_many
    tmp = Path(tempfile.mkdtemp(prefix="aigif-scale-"))
    try:
        tp.build("sd", tmp / "models" / "tiny-sd")
        os.environ["AIGIF_MODEL_PATH"] = str(tmp / "models")
        h = content_hash(tmp / "models" / "tiny-sd")
        files = []
        (tmp / "in").mkdir()
        for i in range(a.files):
            m = aigif.GenerationMeta(model="local:" + h.hex(), generator="sd",
                                     prompt=f"a lighthouse {i}", seed=i, steps=2, width=32,
                                     height=32, scheduler="euler")
            _, data = aigif.render.generate(m, device="cpu")
            files.append(tmp / "in" / f"f{i:03d}.aigif")
            files[-1].write_bytes(data)
        rows = []
        configs = [("1 process", dict()), ("2 processes", dict(workers=2)),
                   ("1 process, batch 4 (opt-in)", dict(batch_size=4))]
        if not a.no_ray:
            try:
                import ray
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
                configs.append(("Ray, local cluster (2 actors)", dict(ray=True)))
            except ImportError:
                print("(ray not installed: pip install 'aigif[cluster]')")
        ref = None
        for name, kw in configs:
            out = tmp / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
            t0 = time.perf_counter()
            rep = render_many(files, out, device="cpu", **kw).wait()
            wall = time.perf_counter() - t0
            px = _pixels(out)
            ref = ref or px
            rows.append((name, rep.workers, wall, rep.done / wall, rep.loads,
                         "yes" if px == ref else "NO", rep.approximate, rep.failed))
        print(f"\n{a.files} files, tiny SD 32x32, 2 steps, CPU ({os.cpu_count()} cores)\n")
        print(f"| run | workers | wall s | files/s | pipeline loads | identical pixels | "
              f"approximate | failed |")
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]} | {r[5]} | {r[6]} | "
                  f"{r[7]} |")
        # kill-and-resume
        out = tmp / "killed"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        p = subprocess.Popen([sys.executable, "-c", _DRIVER, str(out), *map(str, files)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=env)
        seen = 0
        for line in p.stdout:
            seen += line.startswith("done")
            if seen >= a.files // 3:
                os.kill(p.pid, signal.SIGKILL)
                break
        p.wait(30)
        intents = out / ".aigif-render.jsonl.intents"
        before = {json.loads(x)["dst"] for q in intents.glob("*.jsonl")
                  for x in q.read_text().splitlines() if x.endswith("}")}
        tmp_after_kill = len(list(out.glob(".*.tmp")))
        rep = render_many(files, out, device="cpu").wait()
        again = render_many(files, out, device="cpu")
        twice = sum(1 for i in again if i.status == "done")
        px = _pixels(out)
        partial = len(list(out.glob(".*.tmp"))) + sum(1 for k in ref if px.get(k) != ref[k])
        print(f"\nkill-and-resume: driver SIGKILLed after {seen} results streamed "
              f"({len(before)} outputs published, {tmp_after_kill} temporary files left by "
              f"the kill, removed on rerun); rerun rendered {rep.done}, skipped "
              f"{rep.skipped}; files rendered twice: {rep.done + len(before) - a.files + twice}"
              f"; partial or wrong outputs after the rerun: {partial}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
