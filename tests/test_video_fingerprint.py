"""Video fingerprints (spec 6.1, algorithm 2): SHA-256 over width, height and frame count
(big-endian u32) then the RGB8 frames in order, 8 bytes kept. ``aigif.generate`` writes one
for a video, and a render (or a video payload) of a file that has one says whether its
frames are exactly the fingerprinted ones.
"""
from __future__ import annotations

import hashlib
import os
import struct

import pytest

np = pytest.importorskip("numpy")

import aigif  # noqa: E402
from aigif import AigifFile, Fingerprint, GenerationMeta, Video  # noqa: E402
from aigif.codecs.pixels import fingerprint, matches, video_fingerprint  # noqa: E402
from aigif.errors import CodecError, RenderError  # noqa: E402


def _clip(seed: int = 0, t: int = 5, h: int = 6, w: int = 7) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (t, h, w, 3)).astype(np.uint8)


def test_video_fingerprint_is_the_spec_formula():
    a = _clip()
    fp = video_fingerprint(a)
    want = hashlib.sha256(struct.pack(">III", 7, 6, 5) + a.tobytes()).digest()[:8]
    assert (fp.algo, fp.width, fp.height, fp.digest) == (2, 7, 6, want)
    from PIL import Image
    from aigif.render.video import VideoFrames
    from fractions import Fraction
    assert video_fingerprint([Image.fromarray(f) for f in a]) == fp
    assert video_fingerprint(VideoFrames(a, Fraction(8))) == fp
    b = a.copy()
    b[-1, -1, -1, -1] ^= 1                      # one bit of the last frame
    assert video_fingerprint(b).digest != fp.digest
    assert video_fingerprint(a[:-1]).digest != fp.digest      # one frame fewer
    # the frame count is hashed: the same bytes as 1 frame of twice the height differ
    assert video_fingerprint(a[:2].reshape(1, 12, 7, 3)).digest != \
        video_fingerprint(a[:2]).digest
    with pytest.raises(CodecError, match="algorithm 1"):
        video_fingerprint(a, 1)
    with pytest.raises(CodecError, match="video frames"):
        video_fingerprint(a.astype(np.float32))


def test_fingerprints_match_only_their_kind():
    a = _clip()
    from PIL import Image
    img = Image.fromarray(a[0])
    assert matches(video_fingerprint(a), a) is True
    assert matches(video_fingerprint(a), a[::-1].copy()) is False
    assert matches(video_fingerprint(a[:1]), img) is False         # an image is not frames
    assert matches(fingerprint(img), img) is True
    assert matches(fingerprint(img), a[:1]) is False                # frames are not an image
    assert matches(Fingerprint(9, 7, 6, b"\0" * 8), a) is None     # unknown algorithm


def test_validate_warns_a_fingerprint_of_the_other_kind():
    meta = GenerationMeta(model="aigif-tiny-video", prompt="x", seed=1)
    video_fp = Fingerprint(2, 32, 32, bytes(8))
    image_fp = Fingerprint(1, 32, 32, bytes(8))
    codes = lambda f: [i.code for i in aigif.validate(aigif.dumps(f)).issues]  # noqa: E731
    assert codes(AigifFile(meta=meta, fingerprint=video_fp)) == []
    assert codes(AigifFile(meta=meta, fingerprint=image_fp)) == ["fingerprint-kind"]
    sd = GenerationMeta(model="sd15", prompt="x", seed=1)
    assert codes(AigifFile(meta=sd, fingerprint=video_fp)) == ["fingerprint-kind"]
    assert codes(AigifFile(meta=sd, fingerprint=image_fp)) == []


def test_pixels_only_video_payload_is_checked(tmp_path):
    pytest.importorskip("av")
    from aigif.render import render_file
    a = _clip(1, 4, 8, 8)
    aigif.save(None, tmp_path / "c.aigif", video=a, fps=8, fallback="ffv1")
    f = aigif.open(tmp_path / "c.aigif")
    exact = AigifFile(meta=None, payload=f.payload, fingerprint=video_fingerprint(a))
    assert render_file(aigif.loads(aigif.dumps(exact))).exact is True
    other = AigifFile(meta=None, payload=f.payload, fingerprint=video_fingerprint(_clip(2, 4, 8, 8)))
    assert render_file(aigif.loads(aigif.dumps(other))).exact is False
    assert render_file(f).exact is None                         # none to check


@pytest.fixture(scope="module")
def tiny_ltx(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import _tiny_video_pipelines as tv
    from aigif.render import register_model
    path = tv.build_ltx(tmp_path_factory.mktemp("fp_ltx") / "ltx")
    register_model("tiny-fp-ltx", path, generator="ltx_video")
    return path


def test_generate_writes_a_video_fingerprint_and_render_checks_it(tiny_ltx):
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    from aigif.render import PipelineCache
    cache = PipelineCache(maxsize=1)
    meta = GenerationMeta(model="tiny-fp-ltx", generator="ltx_video", prompt="a fox",
                          seed=3, steps=2, width=32, height=32,
                          params={"max_sequence_length": 8}, video=Video(frames=9))
    frames, data = aigif.generate(meta, device="cpu", cache=cache)
    f = aigif.loads(data)
    assert f.fingerprint == video_fingerprint(frames)
    assert (f.fingerprint.algo, f.fingerprint.width, f.fingerprint.height) == (2, 32, 32)
    res = f.render(device="cpu", cache=cache)
    assert res.exact is True and np.array_equal(res.video.frames, frames.frames)
    # the same fingerprint on another seed's file: the render is not those frames
    moved = AigifFile(meta=f.meta.replace(seed=4), fingerprint=f.fingerprint)
    again = aigif.loads(aigif.dumps(moved))
    assert again.render(device="cpu", cache=cache).exact is False
    with pytest.raises(RenderError, match="fingerprint"):
        again.render(device="cpu", cache=cache, strict=True)
    _, bare = aigif.generate(meta, device="cpu", cache=cache, fingerprint=False)
    assert aigif.loads(bare).fingerprint is None
