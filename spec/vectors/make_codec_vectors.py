"""Regenerate the learned-codec payload vectors (spec/vectors/codecs).

    python spec/vectors/make_codec_vectors.py [--check] [--only PREFIX]

(``--only gitssic`` regenerates only the vectors whose name starts with it.)

For each learned pixel codec and the weights the reference library ships: a payload
(``<name>.bin``, the codec's ``data``) made by the reference encoder from a fixed synthetic
image, and ``<name>.json`` with what a conforming decoder must reproduce:

* ``integers_sha256``: SHA-256 of every integer the decoder derives from the stream
  before the float synthesis (sth version 1: z then y symbols, int32 little-endian;
  sth version 2: z symbols are not kept, the fixed-point latents as int64 little-endian;
  nvtc: the index arrays of each sub-stream in order, int32 little-endian; gitssic: the
  block map, then the fixed-point latents, int64 little-endian; omni-icm: the feature
  symbols, int32 little-endian: they are the features; the learned video codecs envc /
  vlvc: every integer array the decoder derives, frame by frame (I frames: the
  fixed-point latents; P frames: the decoded flow fields, then the residual's fixed-point
  latents; ssvc: I frames the gitssic fixed-point latents (or, intra "sth", each tile's),
  P frames the flow field, the tile flags, then each coded tile's fixed-point latents),
  int64 little-endian). These MUST be
  equal on every machine (the entropy model is integer).
* ``pixels``: the reference decoder's pixels (``<name>.png``; a video's frames stacked
  top to bottom); a decoder MAY differ by float rounding in the synthesis, ``min_psnr_db``
  is the bound the tests hold it to.

The video vectors code ``clip()``, a fixed synthetic clip (the picture panned).

Invalid payloads (``<name>.bin`` with ``"error": "codec"`` or ``"limit"``): a decoder MUST
refuse each (a codec error, or for a declared size over the budget a limit error) before it
decodes anything. ``--check`` decodes every vector and compares (tests
run it); the payloads themselves are only regenerated without ``--check``, because the
float analysis of the encoder MAY differ between machines (decoding may not).
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent / "codecs"
MIN_PSNR = 40.0


def picture(w: int = 160, h: int = 96) -> Image.Image:
    """A fixed synthetic test image: gradients, a disc, stripes and seeded noise."""
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(x - w * 0.6, y - h * 0.5) < h * 0.3
    a = np.stack([255 * x / w, 255 * y / h, 128 + 90 * np.sin(x / 5.0) * (y > h / 2)], -1)
    a[r] = [230, 200, 40]
    a += rng.normal(0, 6, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


#: learned video codecs with vectors (payloads: ``aigif.codecs.video``)
VIDEO = ("envc", "vlvc", "ssvc", "imclvc")


def clip(t: int = 5, w: int = 160, h: int = 96) -> np.ndarray:
    """A fixed synthetic clip: ``picture`` panned by (3, 1) pixels a frame, uint8
    [t, h, w, 3]."""
    a = np.asarray(picture(w + 3 * t, h + t))
    return np.stack([a[i:i + h, 3 * i:3 * i + w] for i in range(t)])


def _sha(arrays, dtype) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a), dtype=np.dtype(dtype).newbyteorder("<")).tobytes())
    return h.hexdigest()


def decode_integers(codec: str, data: bytes) -> tuple[str, Image.Image]:
    """(integers_sha256, pixels) of a payload, through the reference decoder."""
    from aigif import codecs as C
    if codec in VIDEO:
        ints, frames = C.get_codec(codec).decode_integers(data)
        t, h, w, _ = frames.shape
        return _sha(ints, "int64"), Image.fromarray(frames.reshape(t * h, w, 3), "RGB")
    if codec == "sth":
        c = C.get_codec("sth")
        coder, z, y, w, h, step = c.decode_symbols(data)
        if z is None:
            return _sha([y], "int64"), Image.fromarray(coder.synthesize(y, h, w), "RGB")
        return _sha([z, y], "int32"), Image.fromarray(coder.synthesize(z, y, h, w, step), "RGB")
    if codec == "nvtc":
        from aigif.codecs.learned import nvtc
        hd = nvtc.parse_header(data)
        loaded = nvtc.load_model(hd["model"])
        idx = nvtc.decode_indices(loaded, hd["width"], hd["height"], hd["streams"])
        return _sha(idx, "int32"), nvtc.synthesize(loaded, idx, hd["width"], hd["height"])
    if codec == "gitssic":
        c = C.get_codec("gitssic")
        coder, blocks, y, p = c.decode_latents(data)
        return _sha([blocks, y], "int64"), c.decode(data)
    if codec == "omni-icm":
        c = C.get_codec("omni-icm")
        coder, sym, level, w, h = c.decode_symbols(data)
        return _sha([sym], "int32"), Image.fromarray(coder.preview(sym, level, h, w), "RGB")
    raise ValueError(codec)


def cases():
    """(name, codec, encode kwargs, needed weights key) of the valid vectors."""
    return [("sth-v1-q75", "sth", {"quality": 75, "model": 1}, "sth-mshp-1"),
            ("sth-v1-q40", "sth", {"quality": 40, "model": 1}, "sth-mshp-1"),
            *[(f"sth-v2-L{lv}-q75", "sth", {"quality": 75, "model": 2, "effort": lv},
               "sth-rdc-1") for lv in range(4)],
            ("sth-v2-L2-q30", "sth", {"quality": 30, "model": 2, "effort": 2}, "sth-rdc-1"),
            ("nvtc-q75", "nvtc", {"quality": 75}, "nvtc"),
            ("nvtc-q30", "nvtc", {"quality": 30}, "nvtc"),
            ("gitssic-q75-map", "gitssic", {"quality": 75, "groups": _GITSSIC_MAP},
             "gitssic-1"),
            ("gitssic-q50-auto3", "gitssic", {"quality": 50, "groups": 3}, "gitssic-1"),
            ("omni-icm-q50", "omni-icm", {"quality": 50}, "omni-icm-1"),
            ("omni-icm-q0", "omni-icm", {"quality": 0}, "omni-icm-1"),
            ("envc-crf28", "envc", {"crf": 28}, "lvc-res-1"),
            ("envc-single-scale-crf36", "envc", {"crf": 36, "cross_scale": False},
             "lvc-res-1"),
            ("vlvc-crf28-gop3", "vlvc", {"crf": 28, "gop": 3}, "lvc-res-1"),
            ("vlvc-no-prediction-crf36", "vlvc", {"crf": 36, "flow_prediction": False},
             "lvc-res-1"),
            ("ssvc-crf28-map", "ssvc", {"crf": 28, "groups": _SSVC_TILES}, "lvc-res-1"),
            ("ssvc-crf36-auto2-gop3", "ssvc", {"crf": 36, "groups": 2, "gop": 3},
             "lvc-res-1"),
            ("ssvc-sth-crf32-map", "ssvc", {"crf": 32, "groups": _SSVC_TILES, "intra": "sth"},
             "lvc-res-1"),
            ("imclvc-crf28", "imclvc", {"crf": 28}, "lvc-res-1"),
            ("imclvc-sr-crf44-gop3", "imclvc", {"crf": 44, "sr": True, "gop": 3},
             "lvc-res-1")]


#: an explicit tile map for the 160 x 96 clip (2 x 3 tiles of 64 x 64): three groups
_SSVC_TILES = [[0, 1, 1], [0, 2, 2]]


#: an explicit block map for the 160 x 96 picture (6 x 10 blocks of 16 x 16): three groups
_GITSSIC_MAP = [[0, 0, 0, 1, 1, 1, 1, 2, 2, 2], [0, 0, 1, 1, 1, 1, 2, 2, 2, 2],
                [0, 0, 1, 1, 0, 1, 2, 2, 2, 2], [0, 0, 0, 1, 1, 1, 1, 2, 2, 1],
                [0, 0, 0, 0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]]


def _available(key: str) -> bool:
    if key == "nvtc":
        from aigif.codecs import get_codec
        return get_codec("nvtc").available()
    from aigif.codecs.learned import zoo
    return zoo.available(key)


def _lvc_invalid() -> dict[str, tuple[bytes, str]]:
    """Invalid lvc payloads built by hand (no weights needed): each is refused while the
    container is parsed, before a model is loaded."""
    from fractions import Fraction

    from aigif.codecs.learned.lvc import bitstream as B
    head = B.Header(15, 160, 96, 2, Fraction(8), 28, 256, 152, 0, 1, 1, b"\x11" * 8, 1,
                    b"\x22" * 8, b"\x01")
    i_rec = B.pack_frame(0, [b"\0" * 8, b"\0" * 16])
    p_rec = B.pack_frame(1, [b"\x03\x03\x03\0\0\0\0", b"\0" * 4, b"\0" * 8])
    good = B.pack_header(head) + i_rec + p_rec
    v_head = head._replace(scheme=16, ext=b"\x01\x03")
    return {
        "envc-truncated": (good[:-1], "the last sub-stream is 1 byte shorter than declared"),
        "envc-trailing-byte": (good + b"\0", "a byte after the last frame record"),
        "envc-frames-3": (B.pack_header(head._replace(frames=3)) + i_rec + p_rec,
                          "3 frames declared, 2 frame records"),
        "envc-first-frame-p": (B.pack_header(head) + p_rec + p_rec, "frame 0 is a P frame"),
        "envc-version-2": (good[:4] + b"\x02" + good[5:], "version 2 is not defined"),
        "envc-scheme-16": (good[:5] + b"\x10" + good[6:],
                           "scheme 16 (vlvc) stored as an envc payload"),
        "envc-fps-den-0": (good[:16] + b"\0" * 4 + good[20:], "frame rate denominator 0"),
        "envc-foreign-weights": (good, "weights hashes differ from the installed models'"),
        "envc-huge": (B.pack_header(head._replace(width=16384, height=16384)) + i_rec + p_rec,
                      "limit: 2 frames of 16384 x 16384 over the decode budget"),
        "envc-frames-over-limit": (B.pack_header(head._replace(frames=16385)) + i_rec
                                   + p_rec, "limit: 16385 frames (MAX_VIDEO_FRAMES 16384)"),
        "envc-flags-4": (B.pack_header(head._replace(ext=b"\x04")) + i_rec + p_rec,
                         "extension flag bit 2 set (only bit 0, cross_scale, and bit 1, "
                         "weights, are defined)"),
        "vlvc-extension-k3": (B.pack_header(v_head) + i_rec + p_rec,
                              "vlvc header extension declares K = 3"),
        **_ssvc_invalid(head, i_rec),
        **_imclvc_invalid(head, i_rec, p_rec),
    }


def _imclvc_invalid(head, i_rec, p_rec) -> dict[str, tuple[bytes, str]]:
    """Invalid imclvc header extensions, refused before a model is loaded."""
    from aigif.codecs.learned.lvc import bitstream as B
    m = head._replace(scheme=18)
    return {
        "imclvc-flags-2": (B.pack_header(m._replace(ext=b"\x02")) + i_rec + p_rec,
                           "extension flags 2 (only bit 0 is defined)"),
        "imclvc-extension-length": (B.pack_header(m._replace(ext=b"\x01\x01" + b"\0" * 7))
                                    + i_rec + p_rec,
                                    "low-rate flags with a 9-byte extension (10 required)"),
        "imclvc-sr-model-2": (B.pack_header(m._replace(ext=b"\x01\x02" + b"\0" * 8)) + i_rec
                              + p_rec, "super-resolution model 2 is not defined"),
    }


def _ssvc_invalid(head, i_rec) -> dict[str, tuple[bytes, str]]:
    """Invalid ssvc payloads (160 x 96: 2 x 3 tiles), refused while the container, the
    tile map and the record shapes are parsed, before a model is loaded."""
    from aigif.codecs.learned.lvc import bitstream as B
    s = head._replace(scheme=17, intra_level=0, intra_model=2, ext=bytes([3, 0, 1, 1, 0, 2, 2]))
    i1 = B.pack_frame(0, [b"GSSC"])
    p3 = B.pack_frame(1, [b"\0" * 8] * 3)
    return {
        "ssvc-intra-model-3": (B.pack_header(s._replace(intra_model=3)) + i1 + p3,
                               "intra model 3 (ssvc: 2 gitssic, 1 sth-rdc-1 by tile)"),
        "ssvc-extension-length": (B.pack_header(s._replace(ext=s.ext[:-1])) + i1 + p3,
                                  "tile map of 5 bytes for 2 x 3 tiles"),
        "ssvc-tile-id-over-g": (B.pack_header(s._replace(ext=bytes([2]) + s.ext[1:])) + i1
                                + p3, "G = 2, the tile map uses id 2"),
        "ssvc-p-frame-4-streams": (B.pack_header(s) + i1 + B.pack_frame(1, [b"\0" * 8] * 4),
                                   "a P frame of 4 sub-streams, 3 groups"),
        "ssvc-empty-group-with-stream": (
            B.pack_header(s._replace(ext=bytes([4, 0, 1, 1, 0, 3, 3]))) + i1
            + B.pack_frame(1, [b"\0" * 8] * 4), "group 2 has no tile but a sub-stream"),
        "ssvc-two-stream-i-frame": (B.pack_header(s) + B.pack_frame(0, [b"GSSC", b""]) + p3,
                                    "an I frame of 2 sub-streams (1: a gitssic payload)"),
    }


def invalid_cases(valid: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    out = _lvc_invalid()
    if "sth-v2-L2-q75" in valid:
        d = valid["sth-v2-L2-q75"]
        out["sth-truncated"] = (d[:-4], "sub-stream lengths do not match the payload")
        out["sth-version-3"] = (d[:4] + b"\x03" + d[5:], "version 3 is not defined")
        out["sth-level-4"] = (d[:20] + b"\x04" + d[21:], "level 4 is not defined")
        out["sth-model-version-mismatch"] = (d[:5] + b"\x01" + d[6:],
                                              "model 1 in a version-2 payload")
        out["sth-foreign-weights"] = (d[:6] + b"\0" * 8 + d[14:], "weights hash differs")
        out["sth-huge"] = (d[:14] + struct.pack(">HH", 65535, 65535) + d[18:],
                           "limit: size over the pixel budget")
    if "nvtc-q75" in valid:
        d = valid["nvtc-q75"]
        out["nvtc-truncated"] = (d[:-1], "sub-streams shorter than declared")
    if "gitssic-q75-map" in valid:
        d = valid["gitssic-q75-map"]
        out["gitssic-truncated"] = (d[:-4], "stream lengths do not match the payload")
        out["gitssic-version-2"] = (d[:4] + b"\x02" + d[5:], "version 2 is not defined")
        out["gitssic-foreign-weights"] = (d[:6] + b"\0" * 8 + d[14:], "weights hash differs")
        out["gitssic-huge"] = (d[:14] + struct.pack(">HH", 65535, 65535) + d[18:24]
                               + struct.pack(">HH", 4096, 4096) + d[28:],
                               "limit: size over the pixel budget")
        out["gitssic-mask-frequency-0"] = (d[:29] + b"\0\0" + d[31:],
                                           "mask event frequency f0 = 0 with 3 groups")
        out["gitssic-group-length-moved"] = (
            d[:41] + struct.pack(">I", struct.unpack_from(">I", d, 41)[0] + 4) + d[45:-4],
            "len[0] declared 4 bytes longer, the payload 4 bytes shorter")
    if "omni-icm-q50" in valid:
        d = valid["omni-icm-q50"]
        out["omni-icm-truncated"] = (d[:-4], "stream length does not match the payload")
        out["omni-icm-level-5"] = (d[:18] + b"\x05" + d[19:], "level 5 is not defined")
        out["omni-icm-foreign-weights"] = (d[:6] + b"\0" * 8 + d[14:], "weights hash differs")
        out["omni-icm-shape-mismatch"] = (d[:21] + struct.pack(">H", d[21] * 256 + d[22] + 1)
                                          + d[23:], "hy is not ceil(height / 8)")
        out["omni-icm-huge"] = (d[:14] + struct.pack(">HH", 65535, 65535) + d[18:21]
                                + struct.pack(">HH", 8192, 8192) + d[25:],
                                "limit: size over the pixel budget")
    return out


def main(check: bool, only: str | None = None) -> int:
    import torch
    torch.set_num_threads(1)
    from aigif import codecs as C
    bad = []
    valid = {}
    im = picture()
    for name, codec, kw, key in cases():
        if only and not name.startswith(only):
            continue
        if not _available(key):
            print(f"skip {name}: weights {key} not installed")
            continue
        bin_p, js_p, png_p = (HERE / f"{name}.{e}" for e in ("bin", "json", "png"))
        if check:
            data = bin_p.read_bytes()
            exp = json.loads(js_p.read_text())
            ints, px = decode_integers(codec, data)
            ref = np.asarray(Image.open(png_p).convert("RGB"), np.float64)
            mse = np.mean((np.asarray(px, np.float64) - ref) ** 2)
            p = float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
            if ints != exp["integers_sha256"]:
                bad.append(f"{name}: decoded integers differ")
            if p < exp["min_psnr_db"]:
                bad.append(f"{name}: pixels {p:.1f} dB from the reference")
            valid[name] = data
            continue
        if codec in VIDEO:
            from aigif.codecs.video import encode_video_payload
            frames = clip()
            data = encode_video_payload(frames, 8, codec, **kw).data
        else:
            data = C.encode_payload(im, codec, **kw).data
        ints, px = decode_integers(codec, data)
        bin_p.write_bytes(data)
        buf = io.BytesIO()
        px.save(buf, "PNG", optimize=True)
        png_p.write_bytes(buf.getvalue())
        js_p.write_text(json.dumps({
            "codec": codec, "code": C.codec_code(codec), "settings": kw,
            "bytes": len(data), "width": im.width, "height": im.height,
            **({"frames": len(frames), "fps": 8} if codec in VIDEO else {}),
            "integers_sha256": ints, "pixels": png_p.name, "min_psnr_db": MIN_PSNR}, indent=1)
            + "\n")
        valid[name] = data
        print(f"wrote {name}: {len(data)} bytes")
    for name, (data, why) in invalid_cases(valid).items():
        if only and not name.startswith(only):
            continue
        codec = "omni-icm" if name.startswith("omni-icm") else name.split("-")[0]
        p = HERE / "invalid" / f"{name}.bin"
        if check:
            if p.read_bytes() != data:
                bad.append(f"invalid/{name}: differs from its construction")
        else:
            p.parent.mkdir(exist_ok=True)
            p.write_bytes(data)
            (HERE / "invalid" / f"{name}.json").write_text(json.dumps(
                {"codec": codec, "error": "limit" if why.startswith("limit") else "codec",
                 "why": why}, indent=1) + "\n")
        from aigif.container import Payload
        from aigif.errors import CodecError, LimitExceededError
        want = LimitExceededError if why.startswith("limit") else CodecError
        from aigif.codecs.video import decode_video_payload
        try:
            if codec in VIDEO:
                decode_video_payload(Payload(codec, data))
            else:
                C.decode_payload(Payload(codec, data))
            bad.append(f"invalid/{name}: decoded without an error")
        except want:
            pass
        except (CodecError, LimitExceededError) as e:
            bad.append(f"invalid/{name}: {type(e).__name__} instead of {want.__name__}")
    for b in bad:
        print("FAIL", b)
    return 1 if bad else 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main("--check" in argv, argv[argv.index("--only") + 1] if "--only" in argv
                  else None))
