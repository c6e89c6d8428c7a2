"""Video payloads (aigif.codecs.video) on the USC-SIPI sequences: rate, PSNR, overhead.

The test clips are the USC-SIPI "Sequences" volume (``shared/data/images/
usc-sipi-sequences/``: 6.1.* 16 frames, 6.2.* 32 frames, 6.3.* 11 frames of 256x256,
motion01..10 10 frames of 512x512; grayscale, frames in file-name order), each coded as an
RGB clip at 30 fps (the volume gives no rate; kbps scale with it). For each codec and crf
(and the exact modes): total bytes, kbps, RGB PSNR over all frames (pooled MSE), encode
time, and two overheads:

- payload vs PyAV called directly with the same settings (the bytes must be identical) and
  what a whole pixels-only .aigif file adds around it (header, element framing, checksum);
- the container (WebM / MP4 / Matroska) vs the encoder's raw packets: what the container
  format itself costs.

    python benchmarks/video_codecs.py                  # every clip, every setting
    python benchmarks/video_codecs.py --clips 6.1 --codecs av1,ffv1 --json out.json
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

import av  # noqa: E402

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs import video as V  # noqa: E402
from aigif.container import FileData, Payload  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "usc-sipi-sequences"
CLIPS = ("6.1", "6.2", "6.3", "motion")
FPS = 30
CRF = {"av1": (20, 30, 40, 50), "vp9": (20, 30, 40, 50), "h264": (18, 23, 28, 33),
       "h265": (18, 23, 28, 33)}
EXACT = (("ffv1", {}), ("vp9", {"lossless": True}), ("h264", {"lossless": True}))


def load_clips(names=CLIPS) -> dict[str, np.ndarray]:
    """Each sequence as uint8 [T, H, W, 3] (gray replicated), frames in file-name order."""
    out = {}
    for name in names:
        files = sorted(DATA.glob(f"{name}*.png"))
        if not files:
            raise SystemExit(f"no frames {name}* in {DATA}")
        out[name] = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
    return out


def direct(c, frames: np.ndarray, crf, lossless: bool) -> tuple[bytes, int]:
    """PyAV called directly with the codec's settings: (container bytes, raw packet bytes)."""
    options = {**c.options(crf, lossless), "threads": "1"}
    enc = (c.lossless_encoder or c.encoder) if lossless else c.encoder
    pix = (c.lossless_pix_fmt or c.pix_fmt) if lossless else c.pix_fmt
    buf, raw = io.BytesIO(), 0
    with av.open(buf, "w", format=c.muxer, container_options={"fflags": "+bitexact"}) as out:
        s = out.add_stream(enc, rate=FPS, options=options)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix
        for i, f in enumerate(list(frames) + [None]):
            fr = None
            if f is not None:
                fr = av.VideoFrame.from_ndarray(f, format="rgb24")
                fr.pts = i
            for p in s.encode(fr):
                raw += p.size
                out.mux(p)
    return buf.getvalue(), raw


def framing(p: Payload) -> int:
    """Bytes a whole pixels-only .aigif file adds around the payload (header, presence,
    element type, length, codec code, checksum)."""
    return len(aigif.dumps(FileData(meta=None, payload=p))) - len(p.data)


def run(clips: dict[str, np.ndarray], codecs: list[str]) -> list[dict]:
    settings = [(k, f"crf {q}", {"crf": q}) for k in codecs if k in CRF for q in CRF[k]]
    settings += [(k, "exact", kw) for k, kw in EXACT if k in codecs]
    rows = []
    for key, label, kw in settings:
        c = C.get_codec(key)
        if not c.available():
            print(f"{key}: not available here", file=sys.stderr)
            continue
        nbytes = raw = cont = frames = pixels = 0
        sse = 0.0
        secs, same, aigif_b = 0.0, True, 0
        for clip in clips.values():
            t0 = time.perf_counter()
            p = V.encode_video_payload(clip, FPS, key, **kw)
            secs += time.perf_counter() - t0
            d, r = direct(c, clip, kw.get("crf"), kw.get("lossless", False) or key == "ffv1")
            same &= d == bytes(p.data)
            out, _ = V.decode_video_payload(p)
            sse += float(np.sum((out.astype(np.float64) - clip) ** 2))
            nbytes += len(p.data)
            raw += r
            cont += len(d)
            aigif_b += framing(p)
            frames += len(clip)
            pixels += clip.size
        mse = sse / pixels
        rows.append({
            "codec": key, "setting": label, "bytes": nbytes, "frames": frames,
            "kbps": nbytes * 8 * FPS / frames / 1000,
            "psnr": math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse),
            "encode_s": secs, "identical": same, "aigif_framing_b": aigif_b,
            "container_b": cont - raw, "container_pct": 100 * (cont - raw) / raw,
        })
        print(_fmt(rows[-1]), flush=True)
    return rows


HEAD = (f"{'codec':<6} {'setting':<8} {'bytes':>9} {'kbps@30':>9} {'PSNR dB':>8} "
        f"{'enc s':>6} {'=direct':>7} {'aigif B':>8} {'container B':>12} {'cont %':>7}")


def _fmt(r: dict) -> str:
    ps = "exact" if math.isinf(r["psnr"]) else f"{r['psnr']:.2f}"
    return (f"{r['codec']:<6} {r['setting']:<8} {r['bytes']:>9} {r['kbps']:>9.1f} {ps:>8} "
            f"{r['encode_s']:>6.2f} {str(r['identical']):>7} {r['aigif_framing_b']:>8} "
            f"{r['container_b']:>12} {r['container_pct']:>6.2f}%")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=",".join(CLIPS), help="sequence prefixes")
    ap.add_argument("--codecs", default="av1,vp9,h264,h265,ffv1")
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args(argv)
    clips = load_clips([c for c in a.clips.split(",") if c])
    n = sum(len(v) for v in clips.values())
    print(f"{len(clips)} clips, {n} frames "
          f"({', '.join(f'{k}: {v.shape[0]}x{v.shape[2]}x{v.shape[1]}' for k, v in clips.items())}), "
          f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}")
    print("aigif B: a pixels-only .aigif file minus its payload (summed over the clips); "
          "container B: container file minus the encoder's raw packets")
    print(HEAD)
    rows = run(clips, [k for k in a.codecs.split(",") if k])
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
