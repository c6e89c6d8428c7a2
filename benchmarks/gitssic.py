"""The ``gitssic`` codec (group-structured, regions decodable alone) on Kodak.

Tables:

1. RD of the full decode (mean bpp, mean RGB PSNR) beside ``sth`` (sth-rdc-1, effort 2)
   and AVIF (Pillow, speed 6); gitssic with the automatic group map (``--k`` regions).
2. Bits to transmit one region: for every group of every image, the bytes a receiver
   needs for that group alone (header, sub-stream table, mask, hyper-latent and the
   group's sub-stream) vs the whole payload, vs the region's bounding rectangle cropped
   and coded by gitssic as one group at the same quality.
3. Partial decode vs full decode inside the decoded groups: max |Δ| over all pixels.
4. Structure overhead: mask stream + group framing (G, f0, f1, the length table) in % of
   the payload; and the whole payload with k groups vs the same image coded as 1 group.

    python benchmarks/gitssic.py                  # 24 Kodak images
    python benchmarks/gitssic.py --images 6 --json out.json
    python benchmarks/gitssic.py --partial-only --images 6   # table 3's timing only:
        # one-group decodes with the cropped synthesis and with the whole-grid one
    python benchmarks/gitssic.py --partial-only --quadrants   # the 4 quadrants as groups

(The cropped synthesis is taken with one torch thread only: run with OMP_NUM_THREADS=1.)
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

from aigif import codecs as C  # noqa: E402
from aigif.codecs.learned import gitssic as G  # noqa: E402

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def avif(im: Image.Image, q: int) -> tuple[int, np.ndarray]:
    buf = io.BytesIO()
    im.save(buf, format="AVIF", quality=q, speed=6)
    return len(buf.getvalue()), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def structure(data: bytes) -> dict:
    c = C.get_codec("gitssic")
    p = c._parse(data)
    mask = p["mask"][1] - p["mask"][0]
    framing = 1 + 2 + 2 + 4 + 4 * p["G"]      # G, f0, f1, mask_len, len[g]
    shared = p["z"][1]                         # header + table + mask + z
    return dict(G=p["G"], mask=mask, framing=framing, shared=shared,
                subs=[b - a for a, b in p["subs"]])


def _quadrants(w: int, h: int) -> np.ndarray:
    hb, wb = -(-h // 16), -(-w // 16)
    i, j = np.mgrid[0:hb, 0:wb]
    return (2 * (i >= hb // 2) + (j >= wb // 2)).astype(np.int64)


def partial_timing(gc, imgs, k: int, q: int, repeat: int, quadrants: bool = False) -> dict:
    """Best-of-``repeat`` decode times: full, one group with the cropped synthesis, one
    group on the whole grid (the crop switched off); max |Δ| inside the group."""
    import torch

    from aigif.codecs.learned import gitssic_model as GM

    def best(fn):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = fn()
            ts.append(time.perf_counter() - t0)
        return min(ts), r

    box_fn = GM.GitSsicCoder.synthesis_box
    t = dict(full=0.0, crop=0.0, grid=0.0)
    n_part = cropped = max_d = 0
    area = []
    for im in imgs:
        d = gc.encode(im, quality=q, groups=_quadrants(*im.size) if quadrants else k)
        tf, full = best(lambda: np.asarray(gc.decode(d)))
        t["full"] += tf
        pix = gc.group_map(d)
        blocks = gc.block_map(d)
        coder, _ = gc._coder(gc._parse(d)["model"])
        for g in np.unique(blocks).tolist():
            sel = pix == g
            box = coder.synthesis_box(blocks, {g})
            cropped += box is not None
            r0, r1, c0, c1 = box or (0, blocks.shape[0], 0, blocks.shape[1])
            area.append((r1 - r0) * (c1 - c0) / blocks.size)
            tc, part = best(lambda: np.asarray(gc.decode(d, groups=[g])))
            GM.GitSsicCoder.synthesis_box = lambda self, b, gr: None
            try:
                tg, part_g = best(lambda: np.asarray(gc.decode(d, groups=[g])))
            finally:
                GM.GitSsicCoder.synthesis_box = box_fn
            t["crop"] += tc
            t["grid"] += tg
            n_part += 1
            max_d = max(max_d, int(np.abs(part[sel].astype(int) - full[sel]).max()),
                        int(np.abs(part_g[sel].astype(int) - full[sel]).max()))
    n = len(imgs)
    res = dict(full_s=t["full"] / n, crop_s=t["crop"] / n_part, grid_s=t["grid"] / n_part,
               decodes=n_part, cropped=cropped, crop_area=float(np.mean(area)),
               max_abs_diff=max_d, threads=torch.get_num_threads())
    what = "the 4 quadrants" if quadrants else f"automatic map, k = {k}"
    print(f"\n## One-group decode time ({n} images, {what}, quality {q}, "
          f"{res['threads']} torch thread(s), best of {repeat})\n")
    print("| decode | s / decode |")
    print("|---|---|")
    print(f"| full | {res['full_s']:.3f} |")
    print(f"| one group, synthesis on the whole grid (before) | {res['grid_s']:.3f} |")
    print(f"| one group, cropped synthesis | {res['crop_s']:.3f} |")
    print(f"\n{cropped} of {n_part} one-group decodes cropped; mean synthesis area "
          f"{res['crop_area']:.0%} of the grid; max |Δ| vs the full decode inside the "
          f"group: {max_d}")
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kodak", default=str(KODAK))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--k", type=int, default=4, help="regions of the automatic group map")
    ap.add_argument("--qualities", type=int, nargs="+", default=[50, 75, 100])
    ap.add_argument("--region-quality", type=int, default=75)
    ap.add_argument("--sth-qualities", type=int, nargs="*", default=[50, 75, 100])
    ap.add_argument("--avif-qualities", type=int, nargs="*", default=[30, 50, 65, 80])
    ap.add_argument("--json")
    ap.add_argument("--partial-only", action="store_true",
                    help="only time one-group decodes, cropped synthesis vs whole grid")
    ap.add_argument("--repeat", type=int, default=3, help="--partial-only: best of N")
    ap.add_argument("--quadrants", action="store_true",
                    help="--partial-only: group map = the 4 quadrants (compact regions) "
                         "instead of the automatic map")
    args = ap.parse_args(argv)
    files = sorted(Path(args.kodak).glob("*.png"))[:args.images]
    if not files:
        sys.exit(f"no images in {args.kodak}")
    imgs = [Image.open(f).convert("RGB") for f in files]
    arrs = [np.asarray(im) for im in imgs]
    n = len(imgs)
    gc = C.get_codec("gitssic")
    out: dict = {"images": n, "k": args.k}
    if args.partial_only:
        out["partial"] = partial_timing(gc, imgs, args.k, args.region_quality, args.repeat,
                                        args.quadrants)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
        return

    # 1. RD of the full decode
    rows = []

    def rd_row(name, q, sizes, ps, secs):
        px = sum(a.shape[0] * a.shape[1] for a in arrs)
        rows.append(dict(codec=name, q=q, bpp=8 * sum(sizes) / px, psnr=float(np.mean(ps)),
                         s=secs / n))

    payloads = {}
    for q in args.qualities:
        t0 = time.time()
        sizes, ps = [], []
        for i, (im, a) in enumerate(zip(imgs, arrs)):
            d = gc.encode(im, quality=q, groups=args.k)
            payloads[(i, q)] = d
            sizes.append(len(d))
            ps.append(psnr(np.asarray(gc.decode(d)), a))
        rd_row("gitssic", q, sizes, ps, time.time() - t0)
    sc = C.get_codec("sth")
    for q in args.sth_qualities:
        t0 = time.time()
        sizes, ps = [], []
        for im, a in zip(imgs, arrs):
            d = sc.encode(im, quality=q, effort=2)
            sizes.append(len(d))
            ps.append(psnr(np.asarray(sc.decode(d)), a))
        rd_row("sth (rdc, effort 2)", q, sizes, ps, time.time() - t0)
    for q in args.avif_qualities:
        t0 = time.time()
        sizes, ps = [], []
        for im, a in zip(imgs, arrs):
            s, dec = avif(im, q)
            sizes.append(s)
            ps.append(psnr(dec, a))
        rd_row("avif (speed 6)", q, sizes, ps, time.time() - t0)
    print(f"\n## Kodak full decode ({n} images; gitssic: automatic map, k = {args.k})\n")
    print("| codec | quality | bpp | PSNR (dB) | s / image (enc + dec) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['codec']} | {r['q']} | {r['bpp']:.3f} | {r['psnr']:.2f} | {r['s']:.2f} |")
    out["rd"] = rows

    # 2 + 3. one region vs the whole vs its bounding rectangle; partial == full
    q = args.region_quality
    if q not in args.qualities:
        for i, im in enumerate(imgs):
            payloads[(i, q)] = gc.encode(im, quality=q, groups=args.k)
    reg, max_d, n_part = [], 0, 0
    t_part = t_full = 0.0
    for i, (im, a) in enumerate(zip(imgs, arrs)):
        d = payloads[(i, q)]
        st = structure(d)
        t0 = time.time()
        full = np.asarray(gc.decode(d))
        t_full += time.time() - t0
        pix = gc.group_map(d)
        for g in range(st["G"]):
            sel = pix == g
            if not sel.any():
                continue
            t0 = time.time()
            part = np.asarray(gc.decode(d, groups=[g]))
            t_part += time.time() - t0
            n_part += 1
            max_d = max(max_d, int(np.abs(part[sel].astype(int) - full[sel]).max()))
            ys, xs = np.nonzero(sel)
            box = im.crop((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
            bb = len(gc.encode(box, quality=q, groups=np.zeros((box.size[1], box.size[0]),
                                                               np.int64)))
            reg.append(dict(image=i, group=g, area=float(sel.mean()),
                            region=st["shared"] + st["subs"][g], whole=len(d), bbox=bb,
                            bbox_area=float(box.size[0] * box.size[1] / sel.size)))
    print(f"\n## One region vs the whole image vs its bounding rectangle (quality {q}; "
          f"{len(reg)} regions of {n} images)\n")
    print("| area of image | regions | region bytes | whole bytes | bbox area | bbox bytes "
          "| region / whole | region / bbox |")
    print("|---|---|---|---|---|---|---|---|")
    bins = [(0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 1.01)]
    for lo, hi in bins + [(0, 1.01)]:
        rs = [r for r in reg if lo <= r["area"] < hi]
        if not rs:
            continue
        lab = "all" if (lo, hi) == (0, 1.01) else f"{lo:.0%}..{min(hi, 1):.0%}"
        m = {k: float(np.mean([r[k] for r in rs])) for k in ("area", "region", "whole",
                                                            "bbox", "bbox_area")}
        rw = float(np.mean([r["region"] / r["whole"] for r in rs]))
        rb = float(np.mean([r["region"] / r["bbox"] for r in rs]))
        print(f"| {lab} (mean {m['area']:.0%}) | {len(rs)} | {m['region']:.0f} | "
              f"{m['whole']:.0f} | {m['bbox_area']:.0%} | {m['bbox']:.0f} | {rw:.1%} | "
              f"{rb:.1%} |")
    out["regions"] = reg
    print(f"\npartial decode vs full decode inside the decoded group: max |Δ| = {max_d} over "
          f"{n_part} single-group decodes; mean time full {t_full / n:.2f} s, one group "
          f"{t_part / max(1, n_part):.2f} s")
    out["partial_max_abs_diff"] = max_d

    # 4. structure overhead
    ov, vs1 = [], []
    for i, im in enumerate(imgs):
        d = payloads[(i, q)]
        st = structure(d)
        ov.append((st["mask"] + st["framing"]) / len(d))
        one = gc.encode(im, quality=q, groups=1)
        vs1.append(len(d) / len(one) - 1)
    print(f"\n## Structure overhead (quality {q}, k = {args.k})\n")
    print(f"mask stream + group framing: {100 * np.mean(ov):.2f} % of the payload (max "
          f"{100 * np.max(ov):.2f} %); payload with the group map vs the same image as one "
          f"group: {100 * np.mean(vs1):+.2f} % (mean), {100 * np.max(vs1):+.2f} % (max)")
    out["overhead_pct"] = 100 * float(np.mean(ov))
    out["vs_one_group_pct"] = 100 * float(np.mean(vs1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
