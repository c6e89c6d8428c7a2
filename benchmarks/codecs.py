"""Pixel payloads through aigif vs the same codec called directly, on Kodak.

For each codec and setting: mean bytes of the codec's own file (Pillow / pillow-jxl-plugin
called directly), mean bytes of the whole pixels-only .aigif file holding the same
pixels, the overhead (bytes and %), whether the payload is byte-identical to the direct
output, mean RGB PSNR and bits per pixel. Writes an RD plot (PNG) and a JSON of the rows.

    python benchmarks/codecs.py                       # all 24 Kodak images
    python benchmarks/codecs.py --images 6 --plot docs/codecs_rd.png --json out.json
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"

# (codec, label, aigif kwargs, direct Pillow save kwargs)
LOSSY_Q = {"avif": (30, 50, 65, 80), "jxl": (40, 60, 75, 90), "webp": (40, 60, 75, 90),
           "jpeg": (40, 60, 75, 90)}
PIL_FORMAT = {"png": "PNG", "webp": "WEBP", "avif": "AVIF", "jxl": "JXL", "jpeg": "JPEG"}


def settings():
    out = []
    for q in LOSSY_Q["avif"]:
        out.append(("avif", f"q{q}", {"quality": q}, {"quality": q, "speed": 6}))
    for q in LOSSY_Q["jxl"]:
        out.append(("jxl", f"q{q}", {"quality": q}, {"quality": q, "effort": 7}))
    for q in LOSSY_Q["webp"]:
        out.append(("webp", f"q{q}", {"quality": q}, {"quality": q, "method": 4}))
    for q in LOSSY_Q["jpeg"]:
        out.append(("jpeg", f"q{q}", {"quality": q}, {"quality": q, "optimize": True}))
    out.append(("png", "lossless", {}, {"compress_level": 6}))
    out.append(("webp", "lossless", {"lossless": True},
                {"lossless": True, "quality": 100, "exact": True}))
    out.append(("jxl", "lossless", {"lossless": True}, {"lossless": True}))
    return out


def direct(key: str, im: Image.Image, kw: dict) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=PIL_FORMAT[key], **kw)
    return buf.getvalue()


def decode_direct(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(KODAK))
    ap.add_argument("--images", type=int, default=24, help="use the first N images")
    ap.add_argument("--lossless-images", type=int, default=None,
                    help="first N images for the (slow) lossless rows (default: --images)")
    ap.add_argument("--only", default="", help="comma-separated codecs")
    ap.add_argument("--plot", default="", help="write an RD plot PNG here")
    ap.add_argument("--json", default="", help="write the rows as JSON here")
    args = ap.parse_args()
    import pillow_jxl  # noqa: F401  (registers JXL with Pillow for the direct calls)

    files = sorted(Path(args.kodak).glob("*.png"))[: args.images]
    if not files:
        sys.exit(f"no images in {args.kodak}")
    imgs = [Image.open(f).convert("RGB") for f in files]
    arrs = [np.asarray(im) for im in imgs]
    n_ll = args.lossless_images or len(imgs)
    only = set(filter(None, args.only.split(",")))
    rows = []
    print(f"{len(imgs)} Kodak images ({n_ll} for lossless rows), "
          f"Pillow {Image.__version__}, aigif {aigif.__version__}\n")
    hdr = (f"{'codec':<5} {'setting':<9} {'direct B':>9} {'aigif B':>9} {'over B':>7} "
           f"{'max':>4} {'over %':>7} {'same':>5} {'PSNR dB':>8} {'bpp':>6} {'s/img':>6}")
    print(hdr)
    print("-" * len(hdr))
    for key, label, akw, dkw in settings():
        if only and key not in only:
            continue
        use = range(n_ll) if label == "lossless" else range(len(imgs))
        d_b, a_b, over, same, ps, t = [], [], [], 0, [], 0.0
        for i in use:
            im = imgs[i]
            t0 = time.perf_counter()
            file_bytes = C.encode_image(im, key, **akw)
            t += time.perf_counter() - t0
            ref = direct(key, im, dkw)
            f = aigif.loads(file_bytes)
            same += f.payload.data == ref
            dec = np.asarray(f.pixels().convert("RGB"))
            assert np.array_equal(dec, np.asarray(decode_direct(ref).convert("RGB")))
            d_b.append(len(ref))
            a_b.append(len(file_bytes))
            over.append(len(file_bytes) - len(ref))
            ps.append(psnr(arrs[i], dec))
        n = len(d_b)
        mean_p = (math.inf if all(math.isinf(p) for p in ps)
                  else 10 * math.log10(255 ** 2 / np.mean([255 ** 2 / 10 ** (p / 10)
                                                           for p in ps])))
        row = dict(codec=key, setting=label, images=n, direct_bytes=float(np.mean(d_b)),
                   aigif_bytes=float(np.mean(a_b)), overhead_bytes=float(np.mean(over)),
                   overhead_max=int(max(over)),
                   overhead_pct=100 * float(np.sum(over)) / float(np.sum(d_b)),
                   identical=f"{same}/{n}", psnr=mean_p,
                   psnr_mean_of_images=float(np.mean(ps)),
                   bpp=8 * float(np.mean(a_b)) / (imgs[0].width * imgs[0].height),
                   seconds_per_image=t / n)
        rows.append(row)
        print(f"{key:<5} {label:<9} {row['direct_bytes']:>9.0f} {row['aigif_bytes']:>9.0f} "
              f"{row['overhead_bytes']:>7.1f} {row['overhead_max']:>4} "
              f"{row['overhead_pct']:>6.3f}% {row['identical']:>5} "
              f"{'inf' if math.isinf(mean_p) else f'{mean_p:.2f}':>8} {row['bpp']:>6.3f} "
              f"{row['seconds_per_image']:>6.2f}", flush=True)
    print("\nPSNR: RGB, from the mean MSE over the images; overhead = .aigif file - direct file")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    if args.plot:
        plot(rows, args.plot, len(imgs))


def plot(rows: list[dict], path: str, n: int, metric: str = "psnr", colors: dict | None = None,
         title: str | None = None, xlabel: str = "bits per pixel (whole .aigif file)") -> None:
    """Rate-distortion plot drawn with Pillow (no plotting library needed): ``metric`` of
    each row over its bpp, one line per codec in ``colors``."""
    from PIL import ImageDraw, ImageFont
    W, H, L, R, T, B = 900, 600, 80, 200, 50, 70
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    lossy = [r for r in rows if r["setting"] != "lossless"]
    if not lossy:
        return
    x0, x1 = 0.0, max(r["bpp"] for r in lossy) * 1.08
    y0 = math.floor(min(r[metric] for r in lossy) - 1)
    y1 = math.ceil(max(r[metric] for r in lossy) + 1)
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)  # noqa: E731
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)  # noqa: E731
    d.rectangle([L, T, W - R, H - B], outline="black")
    step = 0.25 if x1 < 2.5 else 0.5
    x = 0.0
    while x <= x1:
        d.line([sx(x), H - B, sx(x), H - B + 5], fill="black")
        d.line([sx(x), T, sx(x), H - B], fill=(225, 225, 225))
        d.text((sx(x) - 12, H - B + 8), f"{x:.2f}", fill="black", font=font)
        x += step
    for y in range(int(y0), int(y1) + 1):
        d.line([L - 5, sy(y), L, sy(y)], fill="black")
        d.line([L, sy(y), W - R, sy(y)], fill=(225, 225, 225))
        d.text((L - 35, sy(y) - 8), f"{y}", fill="black", font=font)
    d.text((L + (W - L - R) / 2 - 120, H - 35), xlabel, fill="black", font=font)
    d.text((10, T - 30), title or f"RGB PSNR (dB) vs rate, Kodak ({n} images), pixels-only .aigif",
           fill="black", font=font)
    colors = colors or {"avif": (200, 30, 30), "jxl": (30, 90, 200), "webp": (30, 150, 60),
                        "jpeg": (150, 100, 20)}
    for i, (key, col) in enumerate(colors.items()):
        pts = sorted((r["bpp"], r[metric]) for r in lossy if r["codec"] == key)
        if not pts:
            continue
        xy = [(sx(a), sy(b)) for a, b in pts]
        d.line(xy, fill=col, width=3)
        for px, py in xy:
            d.ellipse([px - 4, py - 4, px + 4, py + 4], fill=col)
        ly = T + 20 + i * 25
        d.line([W - R + 20, ly, W - R + 50, ly], fill=col, width=3)
        d.text((W - R + 58, ly - 8), key, fill="black", font=font)
    im.save(path, optimize=True)
    print(f"wrote {path}")


# ----------------------------------------------------------------------------- nvtc (issue 17)
NVTC_Q = (20, 40, 60, 75, 90, 100)
NVTC_ANCHOR_Q = {"jpeg": (5, 10, 15, 20, 30, 40, 50, 60, 75, 90),
                 "webp": (0, 5, 10, 20, 30, 40, 50, 60, 75, 90)}


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjontegaard delta rate (%) of ``test`` vs ``anchor``, points (bpp, PSNR): cubic fits
    of log-rate over PSNR integrated over the common PSNR range (negative: test needs fewer
    bits). None when the PSNR ranges do not overlap."""
    a = sorted(anchor, key=lambda p: p[1])
    t = sorted(test, key=lambda p: p[1])
    lo, hi = max(a[0][1], t[0][1]), min(a[-1][1], t[-1][1])
    if hi <= lo or len(a) < 4 or len(t) < 4:
        return None
    out = []
    for pts in (a, t):
        ps = np.array([p[1] for p in pts])
        lr = np.log(np.array([p[0] for p in pts]))
        c = np.polyint(np.polyfit(ps, lr, 3))
        out.append((np.polyval(c, hi) - np.polyval(c, lo)) / (hi - lo))
    return float((math.exp(out[1] - out[0]) - 1) * 100)


def _kodak_row(key: str, q: int, imgs, arrs) -> dict:
    """Mean bpp / PSNR and encode / decode seconds of codec ``key`` at quality ``q`` over
    the images (through encode_payload / decode_payload); printed as one table row."""
    bits, ps, te, td = [], [], 0.0, 0.0
    for im, ref in zip(imgs, arrs):
        t0 = time.perf_counter()
        p = C.encode_payload(im, key, quality=q)
        t1 = time.perf_counter()
        dec = np.asarray(C.decode_payload(p).convert("RGB"))
        td += time.perf_counter() - t1
        te += t1 - t0
        bits.append(8 * len(p.data) / (im.width * im.height))
        ps.append(psnr(ref, dec))
    row = dict(codec=key, quality=q, bpp=float(np.mean(bits)), psnr=float(np.mean(ps)),
               enc_s=te / len(imgs), dec_s=td / len(imgs))
    print(f"{key:<5} {q:>4} {row['bpp']:>7.3f} {row['psnr']:>8.2f} {row['enc_s']:>6.2f} "
          f"{row['dec_s']:>6.2f}", flush=True)
    return row


def nvtc_main(argv: list[str]) -> None:
    """Kodak RD rows of the learned nvtc codec and its BD-rate vs JPEG and WebP.

        python benchmarks/codecs.py nvtc [--images N] [--json out.json]

    bpp = 8 x payload bytes / pixels (the codec's own bytes, as for JPEG / WebP);
    PSNR = mean over images of the RGB PSNR. nvtc's quality moves its ECVQ rate weight
    (one trained model, lambda x 2^((q - 75) / 12.5)).
    """
    ap = argparse.ArgumentParser(prog="codecs.py nvtc", description=nvtc_main.__doc__)
    ap.add_argument("--kodak", default=str(KODAK))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    files = sorted(Path(args.kodak).glob("*.png"))[: args.images]
    imgs = [Image.open(f).convert("RGB") for f in files]
    arrs = [np.asarray(im) for im in imgs]
    curves: dict[str, list[dict]] = {}
    print(f"{len(imgs)} Kodak images; torch threads 1\n")
    hdr = f"{'codec':<5} {'q':>4} {'bpp':>7} {'PSNR dB':>8} {'enc s':>6} {'dec s':>6}"
    print(hdr)
    print("-" * len(hdr))
    for key, qs in (("nvtc", NVTC_Q), *NVTC_ANCHOR_Q.items()):
        for q in qs:
            curves.setdefault(key, []).append(_kodak_row(key, q, imgs, arrs))
    test = [(r["bpp"], r["psnr"]) for r in curves["nvtc"]]
    print()
    bd = {}
    for anchor in NVTC_ANCHOR_Q:
        a = [(r["bpp"], r["psnr"]) for r in curves[anchor]]
        bd[anchor] = v = bd_rate(a, test)
        print(f"BD-rate nvtc vs {anchor}: " + ("no PSNR overlap" if v is None else f"{v:+.1f} %"))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": curves, "bd_rate": bd}, indent=1))


# ----------------------------------------------------------------------------- sth (issue 17)
STH_Q = (35, 50, 62, 75, 88, 100)
STH_ANCHOR_Q = {"jpeg": (5, 10, 20, 30, 40, 50, 60, 75, 90),
                "webp": (0, 10, 20, 30, 40, 50, 60, 75, 90),
                "avif": (10, 20, 30, 40, 50, 60, 70, 80),
                "jxl": (10, 20, 30, 40, 50, 60, 75, 90)}


def sth_main(argv: list[str]) -> None:
    """Kodak RD rows of the learned sth codec beside JPEG / WebP / AVIF / JXL at matched
    rates, and its BD-rate vs each (negative: sth needs fewer bits for the same PSNR).

        python benchmarks/codecs.py sth [--images N] [--weights FILE] [--only sth,jpeg]

    bpp = 8 x payload bytes / pixels (the codec's own bytes); PSNR = mean over images of
    the RGB PSNR; seconds per image on one torch thread. sth's quality sets its latent
    quantization step (one trained model). ``--weights`` codes with other sth weights
    (e.g. the noise-only ablation) in place of the shipped ones.
    """
    ap = argparse.ArgumentParser(prog="codecs.py sth", description=sth_main.__doc__)
    ap.add_argument("--kodak", default=str(KODAK))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--weights", default="")
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    if args.weights:
        from safetensors.torch import load_file
        from aigif.codecs.learned import zoo
        zoo.register("sth-mshp-1", load_file(args.weights))
    import pillow_jxl  # noqa: F401
    files = sorted(Path(args.kodak).glob("*.png"))[: args.images]
    imgs = [Image.open(f).convert("RGB") for f in files]
    arrs = [np.asarray(im) for im in imgs]
    only = set(filter(None, args.only.split(",")))
    curves: dict[str, list[dict]] = {}
    print(f"{len(imgs)} Kodak images; torch threads 1\n")
    hdr = f"{'codec':<5} {'q':>4} {'bpp':>7} {'PSNR dB':>8} {'enc s':>6} {'dec s':>6}"
    print(hdr)
    print("-" * len(hdr))
    for key, qs in (("sth", STH_Q), *STH_ANCHOR_Q.items()):
        if only and key not in only:
            continue
        for q in qs:
            curves.setdefault(key, []).append(_kodak_row(key, q, imgs, arrs))
    bd = {}
    if "sth" in curves:
        test = [(r["bpp"], r["psnr"]) for r in curves["sth"]]
        print()
        for anchor in STH_ANCHOR_Q:
            if anchor not in curves:
                continue
            a = [(r["bpp"], r["psnr"]) for r in curves[anchor]]
            bd[anchor] = v = bd_rate(a, test)
            print(f"BD-rate sth vs {anchor}: "
                  + ("no PSNR overlap" if v is None else f"{v:+.1f} %"))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": curves, "bd_rate": bd}, indent=1))


# ----------------------------------------------------------------------- learned (issue 17)
MSSSIM_W = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (Wang, Simoncelli, Bovik 2003) of two uint8 RGB images: values in [0, 1]
    (data range 1), 11-tap Gaussian (sigma 1.5) applied separably, valid filtering, 5
    scales with 2x2 average pooling, per channel then averaged (as pytorch_msssim /
    CompressAI's evaluation do)."""
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(np.array(a, np.float32) / 255).permute(2, 0, 1)[None]
    y = torch.from_numpy(np.array(b, np.float32) / 255).permute(2, 0, 1)[None]
    g = torch.exp(-(torch.arange(11, dtype=torch.float32) - 5) ** 2 / (2 * 1.5 ** 2))
    g = g / g.sum()
    gh, gv = g.reshape(1, 1, 1, 11).repeat(3, 1, 1, 1), g.reshape(1, 1, 11, 1).repeat(3, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, gh, groups=3), gv, groups=3)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for k in range(5):
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if k < 4:
            vals.append(torch.relu(cs.mean((2, 3))))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            ssim = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs
            vals.append(torch.relu(ssim.mean((2, 3))))
    w = torch.tensor(MSSSIM_W, dtype=torch.float64)
    out = torch.prod(torch.stack(vals, 0).double() ** w[:, None, None], 0)
    return float(out.mean())


LEARNED_Q = {"sth": (30, 45, 60, 75, 90, 100), "nvtc": (20, 40, 60, 75, 90, 100)}
LEARNED_ANCHORS = {"jpeg": (5, 10, 20, 30, 40, 50, 60, 75, 90),
                   "webp": (0, 10, 20, 30, 40, 50, 60, 75, 90),
                   "avif": (10, 20, 30, 40, 50, 60, 70, 80),
                   "jxl": (10, 20, 30, 40, 50, 60, 75, 90)}


def _one(args) -> tuple[float, float, float, float, float]:
    """(bpp, PSNR, MS-SSIM, encode s, decode s) of one Kodak file (worker-safe)."""
    import torch
    torch.set_num_threads(1)
    key, q, effort, path = args
    im = Image.open(path).convert("RGB")
    ref = np.asarray(im)
    t0 = time.perf_counter()
    p = C.encode_payload(im, key, quality=q, effort=effort)
    t1 = time.perf_counter()
    dec = np.asarray(C.decode_payload(p).convert("RGB"))
    t2 = time.perf_counter()
    return (8 * len(p.data) / (im.width * im.height), psnr(ref, dec), ms_ssim(ref, dec),
            t1 - t0, t2 - t1)


def _row2(key: str, q: int, files, pool, effort=None, label=None) -> dict:
    """One table row with PSNR and MS-SSIM (through encode_payload / decode_payload),
    the images spread over ``pool`` (one torch thread per worker)."""
    jobs = [(key, q, effort, str(f)) for f in files]
    res = list(pool.map(_one, jobs)) if pool is not None else [_one(j) for j in jobs]
    b, ps, ms, te, td = (np.array(v) for v in zip(*res))
    row = dict(codec=label or key, quality=q, effort=effort, bpp=float(b.mean()),
               psnr=float(ps.mean()), ms_ssim=float(ms.mean()),
               enc_s=float(te.mean()), dec_s=float(td.mean()))
    print(f"{row['codec']:<9} {q:>4} {row['bpp']:>7.3f} {row['psnr']:>8.2f} "
          f"{row['ms_ssim']:>8.4f} {row['enc_s']:>6.2f} {row['dec_s']:>6.2f}", flush=True)
    return row


def learned_main(argv: list[str]) -> None:
    """All learned codecs beside JPEG / WebP / AVIF / JPEG XL on Kodak in one run: PSNR
    and MS-SSIM vs bpp, BD-rate (PSNR) of each learned codec vs JPEG, WebP and AVIF, encode
    and decode seconds per image per RDC level (sth), parameters and weight MB.

        python benchmarks/codecs.py learned [--images N] [--levels-q 75] [--plot docs/learned_rd.png] [--json out.json]

    sth rows use its default complexity level; the level table codes every image at
    ``--levels-q`` with each level. One torch thread.
    """
    ap = argparse.ArgumentParser(prog="codecs.py learned", description=learned_main.__doc__)
    ap.add_argument("--kodak", default=str(KODAK))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--levels-q", type=int, default=75)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (one thread each)")
    ap.add_argument("--only", default="")
    ap.add_argument("--plot", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import pillow_jxl  # noqa: F401
    from aigif.codecs.learned import sth as sth_mod
    from aigif.codecs.learned import zoo
    files = sorted(Path(args.kodak).glob("*.png"))[: args.images]
    only = set(filter(None, args.only.split(",")))
    pool = None
    if args.jobs > 1:
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(args.jobs)
    imgs = files
    print(f"{len(imgs)} Kodak images; {args.jobs} worker(s) of one torch thread; sth model "
          f"{sth_mod.MODEL_IDS[sth_mod.SthCodec.default_model]} (default level "
          f"{sth_mod.DEFAULT_LEVEL})\n")
    hdr = (f"{'codec':<9} {'q':>4} {'bpp':>7} {'PSNR dB':>8} {'MS-SSIM':>8} {'enc s':>6} "
           f"{'dec s':>6}")
    print(hdr)
    print("-" * len(hdr))
    curves: dict[str, list[dict]] = {}
    for key, qs in (*LEARNED_Q.items(), *LEARNED_ANCHORS.items()):
        if only and key not in only:
            continue
        for q in qs:
            curves.setdefault(key, []).append(_row2(key, q, files, pool))
    bd: dict = {}
    print()
    for key in LEARNED_Q:
        if key not in curves:
            continue
        test = [(r["bpp"], r["psnr"]) for r in curves[key]]
        for anchor in ("jpeg", "webp", "avif"):
            if anchor in curves:
                a = [(r["bpp"], r["psnr"]) for r in curves[anchor]]
                bd[f"{key}/{anchor}"] = v = bd_rate(a, test)
                print(f"BD-rate {key} vs {anchor} (PSNR): "
                      + ("no PSNR overlap" if v is None else f"{v:+.1f} %"))
    levels = []
    if not only or "sth" in only:
        print(f"\nsth RDC levels at q{args.levels_q} (seconds per image, one thread)\n")
        print(hdr)
        print("-" * len(hdr))
        for lv in range(sth_mod.LEVELS):
            levels.append(_row2("sth", args.levels_q, files, pool, effort=lv,
                                label=f"sth L{lv}"))
    print("\nweights       params (M)   file MB")
    from safetensors.torch import load_file
    wdir = zoo.WEIGHTS_DIR
    for f in sorted(list(wdir.glob("*.safetensors")) + list(wdir.parent.glob("*.safetensors"))):
        t = load_file(str(f))
        n = sum(v.numel() for k, v in t.items()
                if not k.startswith(("prior.table", "gaussian.", "config")) and "table" not in k)
        print(f"{f.stem:<13} {n / 1e6:>10.2f} {f.stat().st_size / 1e6:>9.2f}")
    if args.plot:
        _plot_learned(curves, args.plot, len(imgs))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": curves, "levels": levels,
                                               "bd_rate": bd}, indent=1))


def _plot_learned(curves: dict, path: str, n: int) -> None:
    """PSNR and MS-SSIM (in dB: -10 log10(1 - MS-SSIM)) RD plots side by side."""
    import tempfile
    rows = [dict(r, setting=f"q{r['quality']}", msdb=-10 * math.log10(max(1e-9, 1 - r["ms_ssim"])))
            for rs in curves.values() for r in rs if r["bpp"] <= 1.6]
    colors = {"sth": (120, 0, 160), "nvtc": (0, 150, 160), "avif": (200, 30, 30),
              "jxl": (30, 90, 200), "webp": (30, 150, 60), "jpeg": (150, 100, 20)}
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.png", Path(tmp) / "b.png"
        plot(rows, str(a), n, "psnr", colors, f"RGB PSNR (dB), Kodak ({n} images)",
             "bits per pixel (payload)")
        plot(rows, str(b), n, "msdb", colors, f"MS-SSIM (dB), Kodak ({n} images)",
             "bits per pixel (payload)")
        ia, ib = Image.open(a), Image.open(b)
        out = Image.new("RGB", (ia.width + ib.width, max(ia.height, ib.height)), "white")
        out.paste(ia, (0, 0))
        out.paste(ib, (ia.width, 0))
        out.save(path, optimize=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["nvtc"]:
        nvtc_main(sys.argv[2:])
    elif sys.argv[1:2] == ["sth"]:
        sth_main(sys.argv[2:])
    elif sys.argv[1:2] == ["learned"]:
        learned_main(sys.argv[2:])
    else:
        main()
