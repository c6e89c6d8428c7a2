"""Omni-ICM (pixel codec ``omni-icm``): what machines get from compressed features.

Tasks, all offline:

* scenes: the procedural scenes of ``training/embedded/dataset.py`` rendered at --size px
  (never seen in training): shape (4), colour (6), position (3 x 3 cell) of single-object
  scenes, and count (1, 2, 3 objects); a linear probe (multinomial logistic regression,
  full-batch Adam, L2) and a 5-NN (cosine) on the feature map average-pooled to a 4 x 4 grid,
  trained on --train scenes, tested on --test others (the probes see only the pooled grid).
* retrieval: --queries crops (128 px) of held-out photos (the last 4 wikipedia photos and
  imagecompression-info, never trained on); each is found among all of them from an
  augmented view (random resized crop 50..100 %, flip, mild colour jitter), both coded at the
  same setting; top-1 by cosine of the pooled (mean, max over space) features.

Rows: omni-icm payloads (decoded features, bits of the whole payload); JPEG (Pillow) and
AVIF payloads at several qualities with the *same trained omni encoder's unquantized
features of the decoded pixels*; and the learned ``sth`` codec's decoded latents (model
sth-rdc-1, 128 x H/16 x W/16). --omni takes checkpoints (training runs, e.g. the
--no-filter ablation) or "zoo" (the shipped omni-icm-1).

    OMP_NUM_THREADS=1 python benchmarks/omni_icm.py                     # ~5-10 min
    OMP_NUM_THREADS=1 python benchmarks/omni_icm.py --omni runs/omni/ckpt.pt runs/omni-nofilter/ckpt.pt
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training" / "embedded"))
sys.path.insert(0, str(ROOT / "training" / "codecs"))

import dataset as scenes_ds  # noqa: E402

from aigif.codecs.learned import omni_icm, zoo  # noqa: E402
from aigif.codecs.learned.omni_icm_model import OmniCoder, OmniIcm, export_omni  # noqa: E402

# ------------------------------------------------------------------------------- data


def make_scenes(n: int, seed: int, size: int):
    """n scenes: half single-object (shape / colour / position labels), half counts
    (1: a single scene, 2 or 3: a count scene). Returns images and label dicts."""
    rng = np.random.default_rng(seed)
    combos = scenes_ds.single_combos()
    imgs, labels = [], []
    for i in range(n):
        if i % 2 == 0:
            c = combos[rng.integers(len(combos))]
            sc = scenes_ds.single_scene(rng, c)
            o = sc.objects[0]
            lab = {"shape": scenes_ds.SHAPES.index(o.shape),
                   "colour": list(scenes_ds.COLORS).index(o.color),
                   "position": list(scenes_ds.POSITIONS).index(o.position), "count": 0}
        else:
            sc = scenes_ds._count_scene(rng) if rng.random() < 2 / 3 else \
                scenes_ds.single_scene(rng, combos[rng.integers(len(combos))])
            lab = {"count": len(sc.objects) - 1}
        imgs.append(scenes_ds.render_scene(sc, size))
        labels.append(lab)
    return imgs, labels


def heldout_photos():
    from train_omni_icm import heldout_files, load
    return load(heldout_files())


def make_retrieval(n: int, seed: int):
    from train_omni_icm import augment
    photos = heldout_photos()
    rng = np.random.default_rng(seed)
    gallery = []
    for k in range(n):
        im = photos[k % len(photos)]
        h, w, _ = im.shape
        y, x = rng.integers(h - 128 + 1), rng.integers(w - 128 + 1)
        gallery.append(im[y:y + 128, x:x + 128].copy())
    t = torch.from_numpy(np.stack(gallery)).permute(0, 3, 1, 2).float() / 255
    q = augment(t, rng, 128)
    queries = list((q * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
    return gallery, queries


# --------------------------------------------------------------------------- extractors


def omni_coder(ref: str) -> tuple[OmniCoder, str]:
    if ref == "zoo":
        return zoo.load("omni-icm-1")[0], "omni-icm-1"
    state = torch.load(ref, weights_only=False)
    a = state["args"]
    m = OmniIcm(int(a["N"]), int(a["M"]), filter=not a["no_filter"])
    m.load_state_dict(state["model"])
    name = ("no-filter" if a["no_filter"] else "filter") + f"@{state['step']}"
    return OmniCoder(export_omni(m.eval())), name


def omni_features(coder: OmniCoder, imgs, level: int):
    feats, bits = [], 0
    for im in imgs:
        sym = coder.analyse(im, level)
        data = coder.stream(sym, level)
        bits += 8 * (len(data) + omni_icm.HEADER.size)
        dec = coder.parse(data, level, *sym.shape[1:])
        feats.append(coder.features(dec, level))
    return feats, bits


def float_features(coder: OmniCoder, rgb: np.ndarray) -> np.ndarray:
    """The trained omni encoder's unquantized features of pixels (for pixel codecs)."""
    h, w, _ = rgb.shape
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.pad(x, (0, -w % 8, 0, -h % 8), mode="replicate")
    with torch.no_grad():
        return coder.net.analyse(x)[0].numpy()


def pixel_codec(fmt: str, quality: int):
    def run(coder, imgs):
        feats, bits = [], 0
        for im in imgs:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, fmt, quality=quality)
            bits += 8 * buf.tell()
            dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            feats.append(float_features(coder, dec))
        return feats, bits
    return run


def sth_latents(quality: int):
    from aigif.codecs.learned.sth import SthCodec
    c = SthCodec()

    def run(coder, imgs):
        feats, bits = [], 0
        for im in imgs:
            data = c.encode(Image.fromarray(im), quality=quality, effort=0)
            bits += 8 * len(data)
            _, _, y, w, h, step = c.decode_symbols(data)
            feats.append(np.asarray(y, np.float64).astype(np.float32) / 4096.0)
        return feats, bits
    return run


# ------------------------------------------------------------------------------- probes


def grid(f: np.ndarray, g: int = 4) -> np.ndarray:
    t = torch.from_numpy(np.asarray(f, np.float32))[None]
    return torch.nn.functional.adaptive_avg_pool2d(t, g)[0].reshape(-1).numpy()


def pooled(f: np.ndarray) -> np.ndarray:
    return np.concatenate([f.mean((1, 2)), f.max((1, 2))])


def standardize(tr: np.ndarray, te: np.ndarray):
    """Per-dimension z-scores with the std floored at 0.1 x the median std: a quantized
    feature that is constant (e.g. 0) on the training set but not on the test set would
    otherwise be divided by ~0 and swamp the probe."""
    mu, sd = tr.mean(0), tr.std(0)
    pos = sd[sd > 0]
    sd = np.maximum(sd, 0.1 * (np.median(pos) if pos.size else 1.0))
    return (tr - mu) / sd, (te - mu) / sd


def linear_probe(xtr, ytr, xte, yte, wd: float = 1e-3, iters: int = 300) -> float:
    """Multinomial logistic regression: full-batch Adam (lr 0.01, fixed iterations, zero
    init, L2 ``wd``), deterministic."""
    xtr_t, xte_t = torch.from_numpy(xtr).float(), torch.from_numpy(xte).float()
    ytr_t = torch.from_numpy(ytr).long()
    k = int(max(ytr.max(), yte.max())) + 1
    w = torch.zeros(xtr.shape[1], k, requires_grad=True)
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01)
    for _ in range(iters):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr_t @ w + b, ytr_t) + wd * (w ** 2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((xte_t @ w + b).argmax(1).numpy() == yte).mean())


def knn(xtr, ytr, xte, yte, k: int = 5) -> float:
    a = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    b = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    idx = np.argsort(-(b @ a.T), axis=1)[:, :k]
    votes = ytr[idx]
    pred = np.array([np.bincount(v, minlength=ytr.max() + 1).argmax() for v in votes])
    return float((pred == yte).mean())


def scene_scores(feats, labels, n_train: int) -> dict:
    out = {}
    x = np.stack([grid(f) for f in feats])
    for task in ("shape", "colour", "position", "count"):
        idx = np.array([i for i, lab in enumerate(labels) if task in lab])
        y = np.array([labels[i][task] for i in idx])
        tr, te = idx[idx < n_train], idx[idx >= n_train]
        ytr, yte = y[idx < n_train], y[idx >= n_train]
        xtr, xte = standardize(x[tr], x[te])
        out[task] = (linear_probe(xtr, ytr, xte, yte), knn(xtr, ytr, xte, yte))
    return out


def retrieval_top1(gfeats, qfeats) -> float:
    g = np.stack([pooled(f) for f in gfeats])
    q = np.stack([pooled(f) for f in qfeats])
    g, q = standardize(g, q) if len(g) > 1 else (g, q)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return float(((q @ g.T).argmax(1) == np.arange(len(q))).mean())


def kodak_preview(args):
    """bpp of the payload and PSNR of the preview pixels on Kodak, per level."""
    files = sorted((ROOT.parent / "shared" / "data" / "kodak").glob("*.png"))[:args.kodak]
    ims = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    print(f"Kodak, first {len(ims)} images: payload bpp / preview PSNR dB")
    print("| model | " + " | ".join(f"L{lv}" for lv in args.levels) + " |")
    print("|---|" + "---|" * len(args.levels))
    for ref in args.omni:
        coder, name = omni_coder(ref)
        cells = []
        for lv in args.levels:
            bits, mse = 0, 0.0
            for im in ims:
                sym = coder.analyse(im, lv)
                bits += 8 * (len(coder.stream(sym, lv)) + omni_icm.HEADER.size)
                px = coder.preview(sym, lv, *im.shape[:2]).astype(np.float64)
                mse += np.mean((px - im) ** 2) / len(ims)
            npx = sum(im.shape[0] * im.shape[1] for im in ims)
            cells.append(f"{bits / npx:.3f} / {10 * math.log10(255 ** 2 / mse):.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--omni", nargs="+", default=["zoo"])
    ap.add_argument("--levels", type=int, nargs="+", default=[0, 2, 4])
    ap.add_argument("--jpeg", type=int, nargs="*", default=[5, 20, 50])
    ap.add_argument("--avif", type=int, nargs="*", default=[10, 40])
    ap.add_argument("--sth", type=int, nargs="*", default=[30, 75])
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kodak", type=int, default=0,
                    help="only the bpp and preview PSNR on the first N Kodak images")
    ap.add_argument("--baselines-with", type=int, default=0,
                    help="index in --omni of the encoder whose features the pixel-codec "
                         "rows use")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    if args.kodak:
        return kodak_preview(args)
    s_imgs, s_labels = make_scenes(args.train + args.test, args.seed, args.size)
    gal, qry = make_retrieval(args.queries, args.seed + 1)
    s_px = len(s_imgs) * args.size ** 2
    r_px = 2 * len(gal) * 128 * 128
    coders = [omni_coder(r) for r in args.omni]
    rows = []
    for coder, name in coders:
        for lv in args.levels:
            rows.append((f"omni-icm {name} L{lv}", coder,
                         lambda c, ims, lv=lv: omni_features(c, ims, lv)))
    base = coders[args.baselines_with][0]
    rows += [(f"jpeg q{q} + enc", base, pixel_codec("JPEG", q)) for q in args.jpeg]
    rows += [(f"avif q{q} + enc", base, pixel_codec("AVIF", q)) for q in args.avif]
    rows += [(f"sth q{q} latents", base, sth_latents(q)) for q in args.sth]
    print(f"scenes: {len(s_imgs)} at {args.size} px ({args.train} train / {args.test} "
          f"test); retrieval: {len(gal)} held-out photo crops, 128 px")
    head = ("| features | scene bpp | shape lin / kNN | colour lin / kNN | position lin / kNN"
            " | count lin / kNN | photo bpp | retrieval top-1 |")
    print(head)
    print("|" + "---|" * 8)
    for name, coder, fn in rows:
        sf, sbits = fn(coder, s_imgs)
        sc = scene_scores(sf, s_labels, args.train)
        gf, gbits = fn(coder, gal)
        qf, qbits = fn(coder, qry)
        top1 = retrieval_top1(gf, qf)
        cells = " | ".join(f"{sc[t][0]:.2f} / {sc[t][1]:.2f}"
                           for t in ("shape", "colour", "position", "count"))
        print(f"| {name} | {sbits / s_px:.3f} | {cells} | {(gbits + qbits) / r_px:.3f} | "
              f"{top1:.2f} |", flush=True)
    chance = {"shape": 1 / 4, "colour": 1 / 6, "position": 1 / 9, "count": 1 / 3}
    print(f"chance: {', '.join(f'{k} {v:.2f}' for k, v in chance.items())}, retrieval "
          f"{1 / len(gal):.2f}; {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
