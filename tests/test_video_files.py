"""Video payloads in files: ``aigif.save(..., video=frames)`` writes a video payload (pixels
element with a video codec; spec 6.2), ``aigif.open(p).frames()`` decodes it, pixels-only
video files are video files (VIDEO bit, spec 3.1), ``.video(policy)`` falls back to the
payload, the residual over regenerated frames, ``aigif decode`` / ``info`` / batch render.
Clips are tiny (8 frames of 32x32) and smooth, so lossy codecs reach a clear PSNR.
"""
from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")

import aigif  # noqa: E402
from aigif import GenerationMeta, Video  # noqa: E402
from aigif.codecs.residual_video import (apply_video_residual, choose_video_encoding,  # noqa: E402
                                         encode_video_hybrid, encode_video_residual,
                                         video_psnr)
from aigif.container import FileData  # noqa: E402
from aigif.errors import (CodecError, MetaError, PlatformMismatchWarning,  # noqa: E402
                          RenderError)
from aigif.render import VideoFrames, render_file  # noqa: E402


def clip(t: int = 8, size: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth moving gradient with a little texture: what a generated clip looks like to
    a codec (lossy codecs reach > 30 dB on it)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(t):
        r = 128 + 100 * np.sin((x + 2 * i) / 6.0)
        g = 128 + 100 * np.cos((y - i) / 7.0)
        b = (x + y + 4 * i) * 3 % 256
        out.append(np.stack([r, g, b], -1))
    a = np.stack(out) + rng.normal(0, 2, (t, size, size, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


WAN = dict(model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", generator="wan", prompt="a fox",
           seed=7, width=32, height=32)


def is_video_bytes(data: bytes) -> bool:
    """The spec's first-bytes test (section 2): byte 3 high bit and byte 4 bit 5."""
    return bool(data[3] & 0x80 and data[4] & 0x20)


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("codec,crf,lossless,min_psnr", [
    ("av1", 30, False, 30.0), ("vp9", 30, False, 30.0), ("h264", 23, False, 30.0),
    ("h265", 28, False, 30.0), ("ffv1", None, False, None), ("vp9", None, True, None),
    ("h264", None, True, None)])
def test_save_open_frames_round_trip(tmp_path, codec, crf, lossless, min_psnr):
    frames = clip()
    p = tmp_path / f"{codec}.aigif"
    n = aigif.save(None, p, video=frames, fps=8, fallback=codec, crf=crf, lossless=lossless)
    data = p.read_bytes()
    assert n == len(data) and is_video_bytes(data)
    f = aigif.open(p)
    assert f.meta is None and f.is_video and f.payload.codec == codec
    v = f.frames()
    assert isinstance(v, VideoFrames) and v.frames.shape == (8, 32, 32, 3)
    assert v.fps == Fraction(8) and v.frames.dtype == np.uint8
    if min_psnr is None:          # ffv1, lossless vp9 / h264: every sample exact
        assert np.array_equal(v.frames, frames)
    else:
        assert min_psnr < video_psnr(v.frames, frames) < float("inf")
    # the file is what aigif.save wrote: same frames, same bytes (canonical, deterministic)
    assert aigif.dumps(f) == data


def test_default_codec_is_av1_and_inputs_are_arrays_pil_or_videoframes(tmp_path):
    frames = clip()
    aigif.save(None, tmp_path / "a.aigif", video=frames, fps=8)
    assert aigif.open(tmp_path / "a.aigif").payload.codec == "av1"
    vf = VideoFrames(frames, Fraction(30000, 1001))
    aigif.save(None, tmp_path / "b.aigif", video=vf, fallback="ffv1")
    v = aigif.open(tmp_path / "b.aigif").frames()
    assert v.fps == Fraction(30000, 1001) and np.array_equal(v.frames, frames)
    aigif.save(None, tmp_path / "c.aigif", video=vf.images(), fps=12, fallback="ffv1")
    v = aigif.open(tmp_path / "c.aigif").frames()
    assert v.fps == 12 and np.array_equal(v.frames, frames)


def test_generation_with_its_video_payload(tmp_path):
    """A video generation keeps its syntax and carries its frames; the payload's rate is
    the generation's video.fps when none is given."""
    meta = GenerationMeta(**WAN, video=Video(frames=8, fps=12))
    p = tmp_path / "fox.aigif"
    aigif.save(meta, p, video=clip(), fallback="ffv1")
    f = aigif.open(p)
    assert f.meta == meta and f.is_video and is_video_bytes(p.read_bytes())
    assert f.frames().fps == 12
    r = f.video()                          # auto: the payload, nothing rendered
    assert r.path == "pixels" and np.array_equal(r.video.frames, clip())


def test_pixels_only_video_file_is_a_video_file(tmp_path):
    p = tmp_path / "v.aigif"
    aigif.save(None, p, video=clip(), fps=8, fallback="ffv1")
    q = tmp_path / "i.aigif"
    from PIL import Image
    aigif.save(None, q, image=Image.new("RGB", (4, 4)), fallback="png")
    assert is_video_bytes(p.read_bytes()) and not is_video_bytes(q.read_bytes())
    assert aigif.open(p).is_video and not aigif.open(q).is_video
    assert aigif.validate(p.read_bytes()).ok


# --------------------------------------------------------------------------- errors
def test_errors(tmp_path):
    frames = clip()
    p = tmp_path / "v.aigif"
    aigif.save(None, p, video=frames, fps=8, fallback="ffv1")
    f = aigif.open(p)
    with pytest.raises(CodecError, match=r"\.frames\(\)"):
        f.pixels()                        # one method, one type: never one frame silently
    with pytest.raises(CodecError, match=r"\.frames\(\)"):
        f.image()
    from PIL import Image
    q = tmp_path / "i.aigif"
    aigif.save(None, q, image=Image.new("RGB", (4, 4)), fallback="png")
    with pytest.raises(CodecError, match=r"\.pixels\(\)"):
        aigif.open(q).frames()
    with pytest.raises(CodecError, match="image"):
        aigif.open(q).video()
    with pytest.raises(CodecError, match="frame rate"):
        aigif.save(None, tmp_path / "x.aigif", video=frames)
    with pytest.raises(CodecError, match="differs"):
        aigif.save(None, tmp_path / "x.aigif", video=VideoFrames(frames, Fraction(8)), fps=9)
    with pytest.raises(MetaError, match="not both"):
        aigif.save(None, tmp_path / "x.aigif", video=frames, fps=8,
                   image=Image.new("RGB", (4, 4)))
    with pytest.raises(CodecError, match="crf"):
        aigif.save(None, tmp_path / "x.aigif", video=frames, fps=8, quality=50)
    with pytest.raises(CodecError, match="crf"):
        aigif.save(None, tmp_path / "x.aigif", video=frames, fps=8, fallback="av1", crf=99)
    with pytest.raises(CodecError, match="video payload"):
        aigif.save(None, tmp_path / "x.aigif", image=Image.new("RGB", (4, 4)), fps=8)
    with pytest.raises(CodecError, match="image codec"):
        aigif.save(None, tmp_path / "x.aigif", video=frames, fps=8, fallback="png")
    # an image generation cannot carry a video payload (a file's payload is of its kind)
    with pytest.raises(MetaError, match="kind"):
        aigif.save(GenerationMeta(model="sd15", seed=1), tmp_path / "x.aigif", video=frames,
                   fps=8, fallback="ffv1")
    with pytest.raises(MetaError, match="kind"):
        aigif.dumps(FileData(meta=GenerationMeta(**WAN), payload=aigif.Payload(
            "png", b"\x89PNG\r\n\x1a\n")))
    assert not (tmp_path / "x.aigif").exists()


# --------------------------------------------------------------------------- fallback
def test_prefer_render_falls_back_to_the_payload_frames(tmp_path):
    """The model is not here (download=False): prefer_render and render_file(fallback=
    "payload") give the payload's frames, as for images; "render" raises."""
    meta = GenerationMeta(**dict(WAN, model="nobody/not-a-model", model_revision="0" * 40),
                          video=Video(frames=8))
    p = tmp_path / "fox.aigif"
    aigif.save(meta, p, video=clip(), fallback="ffv1")
    f = aigif.open(p)
    r = f.video("prefer_render", download=False, device="cpu")
    assert r.path == "pixels" and "regeneration failed" in r.note
    assert np.array_equal(r.video.frames, clip())
    res = render_file(f, fallback="payload", download=False, device="cpu")
    assert res.source == "payload" and res.image is None
    assert np.array_equal(res.video.frames, clip()) and res.video.fps == 16
    with pytest.raises(RenderError):
        f.video("render", download=False, device="cpu")
    # a pixels-only video file renders from its payload
    q = tmp_path / "px.aigif"
    aigif.save(None, q, video=clip(), fps=8, fallback="ffv1")
    res = aigif.open(q).render()
    assert res.source == "payload" and np.array_equal(res.video.frames, clip())


# --------------------------------------------------------------------------- residual
def test_video_residual_exact_and_lossy():
    base = clip(seed=1)
    orig = np.clip(base.astype(int) + np.random.default_rng(3).integers(-3, 4, base.shape),
                   0, 255).astype(np.uint8)
    body = encode_video_residual(orig, base, 8)                # ffv1, method 0, exact
    assert np.array_equal(apply_video_residual(base, body), orig)
    vf = apply_video_residual(VideoFrames(base, Fraction(8)), body)
    assert isinstance(vf, VideoFrames) and np.array_equal(vf.frames, orig)
    # method 1, lossy: a smooth difference (a regeneration off by a soft colour shift)
    y, x = np.mgrid[0:32, 0:32]
    shifted = np.clip(base.astype(int) + (12 * np.sin(x / 5.0))[None, :, :, None], 0,
                      255).astype(np.uint8)
    body = encode_video_residual(shifted, base, 8, "av1", crf=20)
    assert video_psnr(apply_video_residual(base, body), shifted) > \
        video_psnr(base, shifted) + 10
    with pytest.warns(PlatformMismatchWarning):
        apply_video_residual(orig, body)                       # another base
    with pytest.raises(CodecError):
        apply_video_residual(orig, body, strict=True)
    with pytest.warns(PlatformMismatchWarning), pytest.raises(CodecError, match="frames"):
        apply_video_residual(base[:4], body)                   # frame count differs


def test_residual_is_chosen_only_where_smaller_than_pixels():
    base = clip(seed=1)
    near = np.clip(base.astype(int) + np.random.default_rng(3).integers(-1, 2, base.shape),
                   0, 255).astype(np.uint8)
    d = choose_video_encoding(near, base, 8)                   # exact, ffv1
    sizes = {c.mode: c.bytes for c in d.candidates if c.mode != "syntax"}
    assert d.mode == "residual" and sizes["residual"] < sizes["pixels"]
    far = clip(seed=9)[::-1].copy()                            # unrelated "regeneration"
    d = choose_video_encoding(far, np.zeros_like(far), 8)
    sizes = {c.mode: c.bytes for c in d.candidates if c.mode != "syntax"}
    assert d.mode == ("residual" if sizes["residual"] < sizes["pixels"] else "pixels")
    assert d.bytes == min(sizes.values())
    d = choose_video_encoding(base, base, 8)
    assert d.mode == "syntax" and d.bytes == 0


def test_render_plus_residual_gives_the_original_frames(tmp_path):
    """A tiny Wan pipeline renders the base; the residual (ffv1, exact) in the file makes
    ``.video("render")`` give the original frames bit for bit."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import _tiny_video_pipelines as tv
    from aigif.render import PipelineCache, register_model
    register_model("tiny-video-files-wan", tv.build("wan", tmp_path / "wan")["model"],
                   generator="wan")
    meta = GenerationMeta(model="tiny-video-files-wan", generator="wan", prompt="a fox",
                          seed=3, steps=2, width=16, height=16, scheduler="unipc",
                          params={"max_sequence_length": 8},
                          video=Video(frames=5, flow_shift=5.0))
    cache = PipelineCache(maxsize=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = aigif.render_meta(meta, device="cpu", cache=cache).video
        orig = np.clip(base.frames.astype(int) + 2, 0, 255).astype(np.uint8)
        f, d = encode_video_hybrid(meta, orig, base, codecs=("ffv1",))
        assert d.mode == "residual"
        p = tmp_path / "fox.aigif"
        aigif.save(f, p)
        r = aigif.open(p).video("render", device="cpu", cache=cache)
    assert r.path == "render+residual" and np.array_equal(r.video.frames, orig)


# --------------------------------------------------------------------------- CLI, batch
def run(*args):
    r = subprocess.run([sys.executable, "-m", "aigif", *map(str, args)], capture_output=True,
                       text=True)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    return r


def _read_container(path) -> np.ndarray:
    import av
    with av.open(str(path)) as c:
        return np.stack([fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)])


def test_cli_info_and_decode(tmp_path):
    p = tmp_path / "v.aigif"
    aigif.save(None, p, video=clip(), fps=8, fallback="ffv1")
    r = run("info", p)
    assert r.returncode == 0 and "video: 8 frames 32x32 at 8 fps" in r.stdout
    assert "ffv1" in r.stdout
    r = run("decode", p, "-o", tmp_path / "v.mkv")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(_read_container(tmp_path / "v.mkv"), clip())   # FFV1: exact
    r = run("decode", p, "-o", tmp_path / "v.mp4")
    assert r.returncode == 0 and (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    assert _read_container(tmp_path / "v.mp4").shape == (8, 32, 32, 3)
    r = run("decode", p, "-o", tmp_path / "v.png")
    assert r.returncode == 2 and "video" in r.stderr and not (tmp_path / "v.png").exists()


def test_writers_take_a_bare_extension():
    from aigif.codecs.video.writers import encode_video_file
    assert encode_video_file(clip(), 8, ".mp4")[4:8] == b"ftyp"
    assert encode_video_file(clip(), 8, "mkv")[:4] == bytes.fromhex("1a45dfa3")


def test_batch_render_writes_video_files(tmp_path):
    """render_many (and ``aigif render --resume``, the batch path) writes a video file's
    frames as ``<name>.mp4`` (H.264, via the writers) next to images as ``<name>.png``."""
    from PIL import Image
    from aigif.scale import render_many
    src = tmp_path / "in"
    src.mkdir()
    aigif.save(None, src / "clip.aigif", video=clip(), fps=8, fallback="ffv1")
    aigif.save(None, src / "still.aigif", image=Image.new("RGB", (8, 8), "red"),
               fallback="png")
    run_ = render_many([src / "clip.aigif", src / "still.aigif"], tmp_path / "out")
    items = {i.src.rsplit("/", 1)[-1]: i for i in run_}
    assert all(i.status == "done" for i in items.values()), [i.error for i in items.values()]
    assert items["clip.aigif"].dst.endswith("clip.mp4")
    out = tmp_path / "out" / "clip.mp4"
    assert out.read_bytes()[4:8] == b"ftyp"
    assert video_psnr(_read_container(out), clip()) > 30
    assert (tmp_path / "out" / "still.png").exists()
    r = run("render", src / "clip.aigif", "-o", tmp_path / "cli", "--resume")
    assert r.returncode == 0, r.stderr
    assert _read_container(tmp_path / "cli" / "clip.mp4").shape == (8, 32, 32, 3)
