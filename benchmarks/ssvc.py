"""SSVC (code 17, issue 20): the cost of the structure and what a partial stream buys.

Five tables, one run (the fifth: the BD-rates of table 1's curves):

1. **Structure overhead**, per test clip and crf: payload bytes and RGB PSNR of ``envc``
   (the unstructured scheme: whole-frame coding, sth-rdc-1 I frames) beside ``ssvc`` with
   sth-rdc-1 I frames (``intra="sth"``, each tile alone) and one group (the tile-local
   coding alone: tiles coded alone, motion kept inside the frame), with ``k`` automatic
   groups (k sub-streams, motion constrained to each group), and the default ssvc (gitssic-1
   I frames, k groups); overhead = bytes / envc's bytes - 1 (at the same crf: compare the
   PSNR column too), I-frame and P-frame bytes apart; then the BD-rates (RGB PSNR) between
   the curves over the ``--crf`` sweep, one step of structure at a time.
2. **Partial decodes**, per clip and group of the two k-group payloads (sth-I,
   gitssic-I): the group's share of the frame, the share of the payload a decode of that
   group alone reads (``SsvcCodec.read_ranges``), decode time alone vs the full decode (one
   torch thread), max |partial - full| inside the group (must be 0), the group's PSNR.
3. **Partial-stream task: tracking an object**: a textured 32x32 sprite (a USC-SIPI
   "motion" crop, red-tinted) pasted on the clip, moving along a known path; its group is
   the tiles its path covers (an object tube, one group), the rest one other group. Each
   frame the sprite is found by template matching (OpenCV TM_SQDIFF, the template = the
   sprite as decoded in frame 0) inside the group's bounding box; error = distance of the
   found centre to the true centre, pixels. Rows: the original frames, envc (full decode),
   ssvc full decode and ssvc's decode of the object's group alone (bytes read, decode time),
   with sth-I and with gitssic-I frames.

Test clips as benchmarks/lvc.py (``--clips``, default 6.1,bbb; ``--frames`` 16), its loader
and metrics. Needs the learned extra (torch, constriction, opencv) and the weights
gitssic-1, sth-rdc-1, lvc-res-1; ``--random-init`` registers an untrained lvc-res-1 when
its weights are missing (development only: the numbers then measure an untrained
residual coder, and say so).

    OMP_NUM_THREADS=1 python benchmarks/ssvc.py
    OMP_NUM_THREADS=1 python benchmarks/ssvc.py --clips bbb --frames 8 --crf 28 --task-crf 28
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aigif.codecs import get_codec  # noqa: E402
from aigif.codecs import video as V  # noqa: E402


def _bench_lvc():
    spec = importlib.util.spec_from_file_location("bench_lvc", ROOT / "benchmarks" / "lvc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


L = _bench_lvc()
TILE = 64


def psnr(a, b) -> float:
    return L._psnr(a, b)


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


# ----------------------------------------------------------------------------- 1. overhead
def variants(k):
    """(label, codec, options) of the overhead table's rows."""
    return (("envc", "envc", {}),
            ("ssvc sth-I 1 group", "ssvc", {"groups": 1, "intra": "sth"}),
            (f"ssvc sth-I {k} groups", "ssvc", {"groups": k, "intra": "sth"}),
            (f"ssvc gitssic-I {k} groups", "ssvc", {"groups": k}))


def overhead(name, clip, fps, crfs, k):
    rows = []
    for crf in crfs:
        base = None
        for label, key, opts in variants(k):
            p, te = timed(V.encode_video_payload, clip, fps, key, crf=crf, **opts)
            (dec, _), td = timed(V.decode_video_payload, p)
            n = len(p.data)
            base = n if base is None else base
            ib, pb = split_bytes(p.data)
            rows.append(dict(clip=name, crf=crf, codec=label, bytes=n, i_bytes=ib, p_bytes=pb,
                             kbps=n * 8 * float(fps) / len(clip) / 1000,
                             psnr=float(np.mean([psnr(a, b) for a, b in zip(clip, dec)])),
                             overhead=n / base - 1, enc_s=te, dec_s=td,
                             payload=p if label.endswith(f"{k} groups") else None))
    return rows


def split_bytes(data) -> tuple[int, int]:
    """Bytes of the I-frame and of the P-frame records of an lvc payload."""
    from aigif.codecs.learned.lvc import bitstream as B
    _, frames = B.parse(bytes(data))
    size = [2 + 4 * len(f.streams) + sum(map(len, f.streams)) for f in frames]
    return (sum(n for n, f in zip(size, frames) if f.kind == B.KIND_I),
            sum(n for n, f in zip(size, frames) if f.kind != B.KIND_I))


def partial_rows(name, label, clip, payload):
    c = get_codec("ssvc")
    data = bytes(payload.data)
    (full, _), t_full = timed(c.decode, data)
    gm = c.group_map(data)
    rows = []
    for g in sorted(set(np.unique(gm).tolist())):
        (part, _), t = timed(c.decode, data, groups=[g])
        keep = gm == g
        read = sum(b - a for a, b in c.read_ranges(data, [g]))
        rows.append(dict(clip=name, codec=label, group=g, area=float(keep.mean()),
                         read=read / len(data),
                         t_part=t, t_full=t_full,
                         maxdiff=int(np.abs(part.astype(int) - full)[:, keep].max()),
                         psnr=psnr(clip[:, keep], part[:, keep])))
    return rows


# ----------------------------------------------------------------------------- 3. tracking
SPRITE = 32


def sprite_clip(clip, start=(150, 70), step=(3, 1)):
    """``clip`` with a red-tinted 32x32 USC-SIPI texture moving by ``step`` px a frame from
    ``start`` (x, y); (frames, true centres [T, 2] as (x, y), the object's tile map)."""
    from PIL import Image
    tex = np.asarray(Image.open(L.SIPI / "motion05.512.png").convert("L"), np.float64)
    cy, cx = tex.shape[0] // 2, tex.shape[1] // 2
    t = tex[cy - SPRITE // 2:cy + SPRITE // 2, cx - SPRITE // 2:cx + SPRITE // 2]
    spr = np.stack([80 + 0.7 * t, 0.3 * t, 0.3 * t], -1).clip(0, 255).astype(np.uint8)
    out, centres = clip.copy(), []
    T, h, w, _ = clip.shape
    th, tw = -(-h // TILE), -(-w // TILE)
    tiles = np.zeros((th, tw), np.int64)
    for i in range(T):
        x = min(start[0] + step[0] * i, w - SPRITE)
        y = min(start[1] + step[1] * i, h - SPRITE)
        out[i, y:y + SPRITE, x:x + SPRITE] = spr
        centres.append((x + SPRITE / 2, y + SPRITE / 2))
        tiles[y // TILE:(y + SPRITE - 1) // TILE + 1, x // TILE:(x + SPRITE - 1) // TILE + 1] = 1
    return out, np.array(centres), tiles


def track(frames, first_centre, region):
    """Centres (x, y) [T, 2] of the frame-0 sprite found in each frame inside ``region``
    (y0, y1, x0, x1) by TM_SQDIFF."""
    import cv2
    cx, cy = first_centre
    x0, y0 = int(cx - SPRITE / 2), int(cy - SPRITE / 2)
    tmpl = frames[0, y0:y0 + SPRITE, x0:x0 + SPRITE].astype(np.float32)
    r0, r1, c0, c1 = region
    out = []
    for f in frames:
        m = cv2.matchTemplate(f[r0:r1, c0:c1].astype(np.float32), tmpl, cv2.TM_SQDIFF)
        _, _, loc, _ = cv2.minMaxLoc(m)
        out.append((c0 + loc[0] + SPRITE / 2, r0 + loc[1] + SPRITE / 2))
    return np.array(out)


def tracking(name, clip, fps, crf):
    frames, truth, tiles = sprite_clip(clip)
    h, w = frames.shape[1:3]
    rows_i, cols_i = np.nonzero(tiles == 1)
    region = (rows_i.min() * TILE, min(h, (rows_i.max() + 1) * TILE),
              cols_i.min() * TILE, min(w, (cols_i.max() + 1) * TILE))
    c = get_codec("ssvc")

    def err(found):
        d = np.hypot(*(found - truth).T)
        return float(d.mean()), float(d.max())

    rows = [dict(clip=name, source="original frames", err=err(track(frames, truth[0], region)),
                 read=None, t=None, bytes=None)]
    pe = V.encode_video_payload(frames, fps, "envc", crf=crf)
    (de, _), te = timed(V.decode_video_payload, pe)
    rows.append(dict(clip=name, source="envc, full decode", err=err(track(de, truth[0], region)),
                     read=1.0, t=te, bytes=len(pe.data), psnr=psnr(frames, de)))
    for intra in ("sth", "gitssic"):
        ps = V.encode_video_payload(frames, fps, "ssvc", crf=crf, groups=tiles, intra=intra)
        data = bytes(ps.data)
        (df, _), tf = timed(c.decode, data)
        rows.append(dict(clip=name, source=f"ssvc {intra}-I, full decode",
                         err=err(track(df, truth[0], region)), read=1.0, t=tf,
                         bytes=len(data), psnr=psnr(frames, df)))
        (dp, _), tp = timed(c.decode, data, groups=[1])
        read = sum(b - a for a, b in c.read_ranges(data, [1])) / len(data)
        keep = c.group_map(data) == 1
        rows.append(dict(clip=name, source=f"ssvc {intra}-I, object group alone",
                         err=err(track(dp, truth[0], region)), read=read, t=tp,
                         bytes=round(read * len(data)), psnr=psnr(frames[:, keep], dp[:, keep]),
                         maxdiff=int(np.abs(dp.astype(int) - df)[:, keep].max()),
                         area=float(keep.mean())))
    return rows


# ----------------------------------------------------------------------------- output
def fmt_overhead(rows):
    out = ["| clip | crf | codec | bytes | I-frame bytes | P-frame bytes | kbps | PSNR RGB | "
           "bytes vs envc | P bytes vs envc | enc s | dec s |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base = {}
    for r in rows:
        base.setdefault((r["clip"], r["crf"]), r)
        b = base[(r["clip"], r["crf"])]
        pv = r["p_bytes"] / b["p_bytes"] - 1 if b["p_bytes"] else float("nan")
        out.append(f"| {r['clip']} | {r['crf']} | {r['codec']} | {r['bytes']} | "
                   f"{r['i_bytes']} | {r['p_bytes']} | {r['kbps']:.1f} | {r['psnr']:.2f} | "
                   f"{100 * r['overhead']:+.1f} % | {100 * pv:+.1f} % | {r['enc_s']:.1f} | "
                   f"{r['dec_s']:.2f} |")
    return "\n".join(out)


def fmt_bd(rows, k):
    """BD-rates (RGB PSNR) between the overhead table's curves, per clip (4+ crfs)."""
    e, s1, sk, gk = (v[0] for v in variants(k))
    pairs = ((e, s1, "tiles + motion constraint (sth-I 1 group vs envc)"),
             (s1, sk, f"{k} groups (sth-I {k} vs 1 group)"),
             (e, sk, f"all structure (sth-I {k} groups vs envc)"),
             (sk, gk, f"gitssic-1 I frames (gitssic-I vs sth-I, {k} groups)"),
             (e, gk, f"default ssvc (gitssic-I {k} groups) vs envc"))
    out = ["| clip | " + " | ".join(p[2] for p in pairs) + " |",
           "|---|" + "---:|" * len(pairs)]
    for clip in dict.fromkeys(r["clip"] for r in rows):
        cur = {lab: [(r["kbps"], r["psnr"]) for r in rows if r["clip"] == clip and
                     r["codec"] == lab] for lab in (e, s1, sk, gk)}
        cells = []
        for a, b, _ in pairs:
            v = L.bd_rate(cur[a], cur[b])
            cells.append("n/a" if v is None else f"{v:+.1f} %")
        out.append(f"| {clip} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def fmt_partial(rows):
    out = ["| clip | payload | group | area | payload read | decode alone s | full decode s | "
           "max abs diff vs full | group PSNR |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['clip']} | {r['codec']} | {r['group']} | {100 * r['area']:.0f} % | "
                   f"{100 * r['read']:.1f} % | {r['t_part']:.2f} | {r['t_full']:.2f} | "
                   f"{r['maxdiff']} | {r['psnr']:.2f} |")
    return "\n".join(out)


def fmt_tracking(rows):
    out = ["| clip | frames from | centre error mean / max px | bytes read | share read | "
           "decode s | PSNR |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ps = "-" if r.get("psnr") is None else f"{r['psnr']:.2f}"
        if "maxdiff" in r:
            ps += f" (group; max abs diff vs full {r['maxdiff']})"
        nbytes = "-" if r["bytes"] is None else str(r["bytes"])
        read = "-" if r["read"] is None else f"{100 * r['read']:.1f} %"
        t = "-" if r["t"] is None else f"{r['t']:.2f}"
        out.append(f"| {r['clip']} | {r['source']} | {r['err'][0]:.2f} / {r['err'][1]:.2f} | "
                   f"{nbytes} | {read} | {t} | {ps} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="6.1,bbb")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--crf", default="20,28,36,44",
                    help="crfs of the overhead table (4+: BD-rates)")
    ap.add_argument("--task-crf", type=int, default=28,
                    help="crf of the partial-decode and tracking tables (one of --crf)")
    ap.add_argument("--groups", type=int, default=4, help="k of the automatic groups")
    ap.add_argument("--random-init", action="store_true",
                    help="untrained lvc-res-1 where its weights are missing (development)")
    ap.add_argument("--json", help="write every row as JSON here")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    untrained = L.register_random_init() if a.random_init else []
    for key in ("envc", "ssvc"):
        why = L.available(key)
        if why:
            raise SystemExit(f"{key}: {why} (--random-init for an untrained residual coder)")
    crfs = [int(x) for x in a.crf.split(",")]
    if a.task_crf not in crfs:
        raise SystemExit(f"--task-crf {a.task_crf} must be one of --crf {a.crf}")
    over, part, trk = [], [], []
    for name in a.clips.split(","):
        clip, fps, how = L.load_clip(name, a.frames)
        print(f"# {name}: {how}, {len(clip)} frames {clip.shape[2]}x{clip.shape[1]} at {fps} fps",
              flush=True)
        rows = overhead(name, clip, fps, crfs, a.groups)
        over += rows
        for r in rows:
            if r["payload"] is not None and r["crf"] == a.task_crf:
                part += partial_rows(name, r["codec"], clip, r["payload"])
        trk += tracking(name, clip, fps, a.task_crf)
    if untrained:
        print(f"\n**untrained (random-init) models: {', '.join(untrained)}: rates and PSNR are "
              f"not the trained codecs'**")
    print("\n## Structure overhead (same crf)\n")
    print(fmt_overhead(over))
    print("\n## BD-rate (RGB PSNR; negative = fewer bits at equal PSNR)\n")
    print(fmt_bd(over, a.groups))
    print(f"\n## Partial decodes ({a.groups} automatic groups, crf {a.task_crf}, one thread)"
          f"\n")
    print(fmt_partial(part))
    print(f"\n## Partial-stream task: tracking a sprite (crf {a.task_crf})\n")
    print(fmt_tracking(trk))
    if a.json:
        for r in over:
            r.pop("payload", None)
        Path(a.json).write_text(json.dumps(dict(overhead=over, partial=part, tracking=trk,
                                                untrained=untrained), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
