"""Video generation syntax (issue 19): aigif.Video on GenerationMeta.video, the VIDEO
presence bit and element, frozen video families, limits, refusal by readers that do not
know video, and bad input -> AigifError only."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

import aigif
from aigif import GenerationMeta, Payload, Video, spec
from aigif import io as aio
from aigif.bitstream import fastbody

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
PNG = (VEC / "valid" / "41-video-i2v.aigif")   # a file holding a tiny PNG conditioning image
PROMPT = ("A cat walks on the grass, realistic style, golden hour light, shallow depth of "
          "field, slow camera pan following the cat, detailed fur, cinematic lighting, 4k")
VIDEO_FAMILIES = {"animatediff": 8, "cogvideox": 9, "ltx_video": 10, "wan": 11,
                  "text_to_video_sd": 12, "hunyuan_video": 13}


def wan(**kw) -> GenerationMeta:
    return GenerationMeta(model=WAN, generator="wan", prompt=PROMPT, seed=42, **kw)


# --------------------------------------------------------------------------- API
def test_video_families_have_frozen_codes_and_resolved_defaults():
    for key, code in VIDEO_FAMILIES.items():
        info = aigif.registry.generators.get(key)
        assert info.code == code and info.defaults.video is not None
        m = GenerationMeta(model="someone/model", generator=key)
        assert isinstance(m.video, Video)
        assert m.video.frames == info.defaults.video.frames
        assert m.video.fps == info.defaults.video.fps
    m = wan()
    assert (m.width, m.height, m.steps, m.guidance_scale) == (832, 480, 50, 5.0)
    assert (m.video.frames, m.video.fps, m.video.flow_shift) == (81, 16, 3.0)
    assert m.video.motion_adapter is None and m.video.vae_tiling is False
    assert m.video.duration == Fraction(81, 16)
    ad = GenerationMeta(model="emilianJR/epiCRealism", generator="animatediff")
    assert ad.video.motion_adapter == "guoyww/animatediff-motion-adapter-v1-5-2"
    assert ad.video.decode_chunk_size == 16


def test_image_families_have_no_video_and_refuse_one():
    assert GenerationMeta(model="sd15").video is None
    with pytest.raises(aigif.MetaError) as ei:
        GenerationMeta(model="sd15", video=Video(frames=16))
    assert ei.value.field == "video" and "wan" in ei.value.message
    assert "video" not in GenerationMeta(model="sd15").to_dict()   # image JSON unchanged


@pytest.mark.parametrize("fps,want", [(16, Fraction(16)), (Fraction(24000, 1001), Fraction(24000, 1001)),
                                      ("30000/1001", Fraction(30000, 1001)), (29.97, Fraction(2997, 100)),
                                      ("12.5", Fraction(25, 2)), (7.5, Fraction(15, 2))])
def test_fps_is_exact(fps, want):
    v = wan(video=Video(fps=fps)).video
    assert v.fps == want and isinstance(v.fps, Fraction)
    assert aigif.loads(aigif.dumps(wan(video=Video(fps=fps)))).meta.video.fps == want


@pytest.mark.parametrize("kw,field", [
    ({"frames": 0}, "video.frames"), ({"frames": spec.MAX_VIDEO_FRAMES + 1}, "video.frames"),
    ({"frames": 2.0}, "video.frames"), ({"frames": True}, "video.frames"),
    ({"fps": 0}, "video.fps"), ({"fps": -1}, "video.fps"), ({"fps": "abc"}, "video.fps"),
    ({"fps": float("nan")}, "video.fps"), ({"fps": 1001}, "video.fps"),
    ({"fps": Fraction(1, 70000)}, "video.fps"), ({"fps": "1/0"}, "video.fps"),
    ({"image": b"png"}, "video.image"), ({"image": Payload("nope", b"x")}, "video.image"),
    ({"image": Payload("png", b"")}, "video.image"),
    ({"motion_adapter": ""}, "video.motion_adapter"),
    ({"motion_adapter": "x" * 2000}, "video.motion_adapter"),
    ({"motion_bucket_id": -1}, "video.motion_bucket_id"),
    ({"noise_aug_strength": float("inf")}, "video.noise_aug_strength"),
    ({"flow_shift": 0.0}, "video.flow_shift"), ({"flow_shift": -2}, "video.flow_shift"),
    ({"decode_chunk_size": -1}, "video.decode_chunk_size"),
    ({"vae_tiling": 1}, "video.vae_tiling"),
])
def test_bad_video_values_raise_meta_error_naming_the_field(kw, field):
    with pytest.raises(aigif.MetaError) as ei:
        Video(**kw)
    assert ei.value.field == field


def test_frames_times_size_is_limited_before_anything_is_rendered():
    # 832 x 480 x 672 = 268,369,920 <= 2**28; one more frame is over
    assert wan(video=Video(frames=672)).video.frames == 672
    with pytest.raises(aigif.MetaError) as ei:
        wan(video=Video(frames=673))
    assert ei.value.field == "video.frames" and "MAX_DECOMPRESSED_PIXELS" in ei.value.message


def test_dict_round_trip_and_bad_dicts():
    m = wan(video=Video(frames=49, fps="24000/1001", image=Payload("png", b"\x89PNG..."),
                        vae_tiling=True))
    d = json.loads(json.dumps(m.to_dict()))
    assert d["video"]["fps"] == "24000/1001" and d["video"]["image"]["codec"] == "png"
    assert GenerationMeta.from_dict(d) == m
    for bad in ({"frames": 1, "nope": 2}, "16 frames", {"image": {"codec": "png", "data": "zz"}},
                {"image": [1]}):
        with pytest.raises(aigif.MetaError):
            GenerationMeta.from_dict({**d, "video": bad})


# --------------------------------------------------------------------------- bitstream
def test_round_trip_every_field():
    v = Video(frames=49, fps=Fraction(24000, 1001), image=Payload("png", PNG.read_bytes()[:40]),
              motion_adapter="guoyww/animatediff-motion-adapter-v1-5-3@abc",
              motion_bucket_id=180, noise_aug_strength=0.02, flow_shift=5.0,
              decode_chunk_size=0, vae_tiling=True)
    m = wan(video=v, width=1280, height=720)
    data = aigif.dumps(m)
    assert aigif.loads(data).meta == m
    assert aigif.dumps(aigif.loads(data)) == data          # canonical
    assert aigif.validate(data).ok


def test_defaults_cost_no_bytes():
    """A video with default fields is the image-shaped file plus one presence byte (the
    VIDEO bit makes the presence word 2 bytes); each field costs bytes only when set."""
    m = wan()
    data = aigif.dumps(m)
    assert data[3] & 0x80 and data[4] & 0x20                # the kind, from the first bytes
    assert aigif.dumps(wan(video=Video(frames=81, fps=16, flow_shift=3.0,
                                       vae_tiling=False))) == data
    explicit = GenerationMeta(model=WAN, generator="wan", prompt=PROMPT, seed=42,
                              steps=50, guidance_scale=5.0, width=832, height=480,
                              scheduler="unipc", video=Video(frames=81))
    assert aigif.dumps(explicit) == data
    # no VIDEO element at all: the element list is absent
    body = aio._fast_parse(data[3:-2]) or aio._parse(aio.Body, data[3:-2], 3, "body")[0]
    assert body.elements is None
    # one non-default field: element type, length, presence and the value
    assert len(aigif.dumps(wan(video=Video(frames=49)))) == len(data) + 5


def test_video_files_are_recognisable_from_their_first_bytes():
    for p in sorted((VEC / "valid").glob("*.aigif")):
        data = p.read_bytes()
        is_video = bool(data[3] & 0x80 and data[4] & 0x20)
        assert is_video == aigif.loads(data).is_video, p.name


def test_old_reader_refuses_at_the_presence_word(monkeypatch):
    """A v1 reader from before video does not know presence bit 12: unsupported-version,
    before any field is read."""
    data = aigif.dumps(wan())
    old = spec.KNOWN_PRESENCE_BITS & ~int(spec.Presence.VIDEO)
    monkeypatch.setattr(spec, "KNOWN_PRESENCE_BITS", old)
    monkeypatch.setattr(fastbody, "_KNOWN", old)
    with pytest.raises(aigif.UnsupportedVersionError, match="presence bits 0x1000"):
        aigif.loads(data)


def test_reader_without_the_video_element_refuses_it_as_critical(monkeypatch):
    """The VIDEO element is critical: a reader that knows the bit but not the element (or
    any element-level tool) refuses the file instead of rendering the wrong frames."""
    data = aigif.dumps(wan(video=Video(frames=49)))
    rules = dict(aio._RULES)
    del rules[int(spec.Element.VIDEO)]
    crit = dict(spec.ELEMENT_CRITICAL)
    del crit[spec.Element.VIDEO]
    monkeypatch.setattr(aio, "_RULES", rules)
    monkeypatch.setattr(spec, "ELEMENT_CRITICAL", crit)
    with pytest.raises(aigif.UnknownCriticalElementError):
        aigif.loads(data)
    assert data[3:].find(bytes([2 * 10 + 1])) > 0          # type byte: id 10, critical bit


def test_save_and_open(tmp_path):
    m = wan(video=Video(frames=33, fps=24))
    p = tmp_path / "clip.aigif"
    n = aigif.save(None, p, meta=m)
    assert n == p.stat().st_size
    f = aigif.open(p)
    assert f.meta == m and f.meta.video.frames == 33 and f.meta.video.fps == 24


def test_reading_video_files_imports_no_heavy_library():
    path = str(VEC / "valid" / "41-video-i2v.aigif")
    code = ("import sys, aigif\n"
            f"f = aigif.open({path!r})\n"
            "assert f.meta.video.image.codec == 'png'\n"
            f"assert aigif.validate({path!r}).ok\n"
            "bad = [m for m in ('torch', 'numpy', 'diffusers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_strict_and_lenient_reading_of_a_stored_default():
    bad = (VEC / "invalid" / "55-video-default-stored.aigif").read_bytes()
    with pytest.raises(aigif.CanonicalFormError):
        aigif.loads(bad)
    assert aigif.loads(bad, strict=False).meta.video.frames == 81


def test_vae_tiling_and_conditioning_image_codecs():
    m = wan(video=Video(image=Payload("codec-99", b"future")))     # unknown codec kept
    f = aigif.loads(aigif.dumps(m))
    assert f.meta.video.image == Payload("codec-99", b"future")
    assert "unknown-codec" in {i.code for i in aigif.validate(aigif.dumps(m)).issues}


def test_unused_field_is_a_validation_warning():
    m = wan(video=Video(motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2"))
    r = aigif.validate(aigif.dumps(m))
    assert r.ok and [i.field for i in r.issues if i.code == "video-field-unused"] == [
        "video.motion_adapter"]


def test_cli_info_and_json_round_trip(tmp_path):
    src = VEC / "valid" / "39-video-fields.aigif"
    run = lambda *a: subprocess.run([sys.executable, "-m", "aigif", *a],   # noqa: E731
                                    capture_output=True, text=True)
    r = run("info", str(src))
    assert r.returncode == 0 and "video.frames" in r.stdout and "24000/1001" in r.stdout
    r = run("info", "--json", str(src))
    j = tmp_path / "m.json"
    j.write_text(r.stdout)
    assert json.loads(r.stdout)["video"]["frames"] == 49
    out = tmp_path / "o.aigif"
    assert run("encode", "--json", str(j), "-o", str(out)).returncode == 0
    # the same file, but for the writer's choice of text method (not part of the
    # canonical form: the vector predates text method 3)
    assert aigif.loads(out.read_bytes()) == aigif.loads(src.read_bytes())
    assert out.read_bytes() == aigif.dumps(aigif.loads(src.read_bytes()).meta)


# --------------------------------------------------------------------------- bad bytes
def _video_file(body: bytes) -> bytes:
    sys.path.insert(0, str(VEC))
    from make_vectors import v, wrap
    return wrap(v(1 << 12 | 1 << 9) + v(0) + v(11) + v(3) + b"a/b" + v(0) + v(1) + v(21)
                + v(len(body)) + body)


@pytest.mark.parametrize("body", [
    b"", b"\x01", b"\x02\x01", b"\x02\x21", b"\x04\x01", b"\x04\x01\x05ab", b"\x08\x05ab",
    b"\x08\x02\xff\xfe", b"\x20\x03", b"\x40\x02" + b"\x7f" * 3, b"\x80\x02\x80", b"\xff\xff\xff",
    b"\x02" + b"\x80" * 12, b"\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
])
def test_garbage_video_elements_raise_only_aigif_errors(body):
    with pytest.raises(aigif.AigifError):
        aigif.loads(_video_file(body))
    assert not aigif.validate(_video_file(body)).ok


def test_every_truncation_and_flip_of_a_video_element_is_an_aigif_error():
    data = aigif.dumps(wan(video=Video(frames=49, fps=Fraction(30000, 1001), flow_shift=5.0,
                                       image=Payload("png", b"\x89PNG\r\n"))))
    for i in range(3, len(data) - 2):
        for flip in (0x01, 0x40, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            body = bytes(bad[:-2])
            crc = aio.check_value(body, len(data)).to_bytes(2, "big")   # valid check: parse it
            try:
                aigif.loads(body + crc)
            except aigif.AigifError:
                pass


def test_vectors_hold_the_video_cases():
    names = {p.stem for p in (VEC / "valid").glob("*video*.aigif")}
    assert {"38-video-wan-t2v", "39-video-fields", "40-video-animatediff", "41-video-i2v",
            "42-video-micro-conditioning"} <= names
    bad = {p.stem: json.loads(p.with_suffix(".json").read_text())["error"]
           for p in (VEC / "invalid").glob("*video*.aigif")}
    assert bad["50-video-unknown-field-bit"] == "unsupported-version"
    assert bad["52-video-pixels-over-limit"] == "limit-exceeded"


def test_replace_keeps_or_drops_the_video():
    m = wan(video=Video(frames=49))
    assert m.replace(seed=1).video.frames == 49
    assert m.replace(model="sd15", generator=None, video=None).video is None
    assert replace(m.video, frames=17).frames == 17


def test_image_to_video_family_without_image_is_a_validation_warning():
    """stable_video_diffusion makes video from an image only: a file of it without
    ``video.image`` parses (the syntax allows it) but validate says it cannot render."""
    svd = GenerationMeta(model="stabilityai/stable-video-diffusion-img2vid-xt",
                         generator="stable_video_diffusion", seed=1)
    r = aigif.validate(aigif.dumps(svd))
    assert r.ok and [(i.code, i.field, i.severity) for i in r.issues
                     if i.code == "no-conditioning-image"] == [
        ("no-conditioning-image", "video.image", "warning")]
    png = (VEC / "valid" / "70-video-svd-i2v.aigif").read_bytes()
    assert "no-conditioning-image" not in {i.code for i in aigif.validate(png).issues}
    assert "no-conditioning-image" not in {i.code for i in aigif.validate(
        aigif.dumps(wan())).issues}
