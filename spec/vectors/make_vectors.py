"""Regenerate the AIGIF v1 conformance vectors (spec/vectors/{valid,invalid}).

    python spec/vectors/make_vectors.py [--check]

Valid vectors are written by the reference writer from the metadata below; each has a
``.json`` with the expected parse. Invalid vectors are built byte by byte from the spec
(not by the writer), each with the expected error code and byte offset. ``--check``
regenerates in memory and fails if any file differs (tests run it).
"""
from __future__ import annotations

import json
import struct
import sys
from binascii import crc_hqx
from contextlib import contextmanager
from pathlib import Path

import aigif
from fractions import Fraction

from aigif import (AigifFile, ControlNet, Detailer, Fingerprint, GenerationMeta, Hires, Img2Img,
                   Lora, Payload, Platform, RawElement, Refiner, UnknownStages, Video)

HERE = Path(__file__).resolve().parent


@contextmanager
def legacy_text_writer():
    """The writer's text-method choice as it was when these vectors were made: the shortest
    of methods 0..2. Method 3 (cm2) came later; a writer's choice of method is not part
    of the canonical form (spec 3.2), and the vectors keep their bytes, so they are
    written (and their canonical rewrite checked) with that writer. Vectors of method 3
    name it (``text_method=3``)."""
    import aigif.textcoding as tc
    orig = tc.candidates
    tc.candidates = lambda: [m for m in orig() if m.code <= 2]
    try:
        yield
    finally:
        tc.candidates = orig

KNIGHT = ("portrait of a knight, highly detailed, digital painting, artstation, concept art, "
          "sharp focus, illustration, art by greg rutkowski")
#: a 1x1 gray PNG (a control image), built by hand so the vectors need no Pillow
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a4944415478da6368000000820081da45083b0000000049454e44ae426082")
NEG = "blurry, lowres, bad anatomy, bad hands, text, error, missing fingers, worst quality"
#: a typical text-to-video prompt (~150 characters)
WAN_PROMPT = ("A cat walks on the grass, realistic style, golden hour light, shallow depth of "
              "field, slow camera pan following the cat, detailed fur, cinematic lighting, 4k")
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def valid_cases() -> dict[str, AigifFile]:
    M = GenerationMeta
    plat = Platform(device="cuda", accelerator="NVIDIA H100 80GB HBM3", torch="2.13.0+cu128",
                    diffusers="0.42.1", transformers="5.24.0", dtype="float16",
                    rng_device="cpu", flags=frozenset({"deterministic_algorithms"}), threads=0)
    c = {
        "01-minimal": M(model="sd15"),
        "02-prompt-seed": M(model="sd15", prompt="a castle on a hill, oil painting", seed=1234),
        "03-typical-sd15": M(model="sd15", prompt=KNIGHT, negative_prompt="blurry", seed=3954772125,
                             steps=30, guidance_scale=7.5, scheduler="dpmpp_2m_karras",
                             width=512, height=768),
        "04-negative-only": M(model="sd15", negative_prompt=NEG, seed=7),
        "05-seed-64bit": M(model="sdxl", prompt="a red fox in snow", seed=18446744073709551615),
        "06-seed-zero": M(model="sd15", prompt="zero", seed=0),
        "07-guidance-milli": M(model="sd15", prompt="g", seed=1, guidance_scale=7.25),
        "08-guidance-float64": M(model="sd15", prompt="g", seed=1, guidance_scale=7.123456789),
        "09-guidance-zero": M(model="sdxl", prompt="fast", seed=2, guidance_scale=0.0, steps=4),
        "10-size-pixels": M(model="sd15", prompt="odd size", seed=3, width=520, height=776),
        "11-clip-skip": M(model="sd15", prompt="anime girl", seed=4, clip_skip=1),
        "12-cjk-emoji": M(model="sd15", prompt="富士山と桜、浮世絵 🌸🗻 (masterpiece:1.2)",
                          negative_prompt="低品質 👎", seed=5),
        "13-combining-whitespace": M(model="sd15", prompt="cafe\u0301 \t\n  nai\u0308ve\u00a0\u3000 [a:b:0.5] BREAK <lora:x:0.8>", seed=6),
        "14-hub-model": M(model="someone/my-finetune", generator="sd", model_revision="0123456789abcdef0123456789abcdef01234567", prompt="hub", seed=8),
        "15-local-model": M(model="local:" + "ab" * 16, generator="sdxl", prompt="local", seed=9),
        "16-ckpt-model": M(model="ckpt:dreamshaper_8", generator="sd", model_revision="879db523c3", prompt="ckpt", seed=10, steps=25, scheduler="euler_a"),
        "17-platform": M(model="sdxl", prompt="with platform", seed=11, platform=plat),
        "18-params": M(model="sd15", prompt="img2img", seed=12, params={"denoise": 0.75, "hires_scale": 2, "hires_upscaler": "Latent", "flag": True, "off": False, "none": None, "neg": -5, "raw": b"\x00\xff"}),
        "19-loras": M(model="sdxl", prompt="lora", seed=13, loras=(Lora("detail_tweaker", 0.8), Lora("style", -0.5, 1.0, "abcdef0123"))),
        "20-flux-schnell": M(model="flux1-schnell", prompt="a photo of a dog", seed=42),
        "21-aigif-tiny": M(model="aigif-tiny", prompt="a small red circle above a large blue square", seed=1),
        "22-utf8-method": M(model="sd15", prompt="hi", seed=1),
    }
    files = {k: AigifFile(meta=v) for k, v in c.items()}
    files["22-utf8-method"] = AigifFile(meta=c["22-utf8-method"], text_method=0)
    files["23-info"] = AigifFile(meta=M(model="sd15", prompt="info", seed=1),
                                 info={"author": "Ada", "software": "aigif 0.1.0"})
    files["24-source"] = AigifFile(meta=M(model="sd15", prompt=KNIGHT, seed=1),
                                   source={"tool": "automatic1111", "parameters": KNIGHT + "\nSteps: 50, Sampler: PNDM, CFG scale: 7, Seed: 1, Size: 512x512"})
    files["25-fingerprint"] = AigifFile(meta=M(model="sd15", prompt="fp", seed=1),
                                        fingerprint=Fingerprint(1, 512, 512, bytes(range(8))))
    files["26-pixels"] = AigifFile(meta=M(model="sd15", prompt="px", seed=1),
                                   payload=Payload("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "))
    files["27-pixels-only"] = AigifFile(meta=None, payload=Payload("png", b"\x89PNG\r\n\x1a\n"))
    files["28-unknown-ancillary"] = AigifFile(meta=M(model="sd15", prompt="x", seed=1),
                                              unknown_elements=(RawElement(5000, False, b"future data"),))
    files["29-residual"] = AigifFile(meta=M(model="sd15", prompt="res", seed=1), residual=b"\x01\x02\x03")
    files["30-aigif-tiny-2"] = AigifFile(meta=M(
        model="aigif-tiny-2", prompt="a large blue square in the top left corner on a gray background", seed=2))
    typical = c["03-typical-sd15"]
    files["31-hires-a1111"] = AigifFile(meta=typical.replace(
        stages=(Hires(scale=2.0, upscaler="latent", strength=0.45, steps=20),)))
    files["32-hires-model-upscaler"] = AigifFile(meta=typical.replace(stages=(Hires(
        scale=1.5, upscaler="model", upscaler_model="ckpt:4x-UltraSharp", strength=0.3,
        steps=15),)))
    files["33-img2img-prompt"] = AigifFile(meta=M(model="sd15", prompt=KNIGHT, seed=14, stages=(
        Img2Img(strength=0.35, prompt="portrait of a knight at night, moonlight"),)))
    files["34-refiner"] = AigifFile(meta=M(model="sdxl", prompt="a lighthouse at dusk", seed=15,
                                           steps=40, stages=(Refiner(
        model="stabilityai/stable-diffusion-xl-refiner-1.0", switch=0.8),)))
    files["35-controlnet"] = AigifFile(meta=M(model="sd15", prompt="a house", seed=16, stages=(
        ControlNet(model="lllyasviel/control_v11p_sd15_canny", scale=0.8,
                   image=Payload("png", TINY_PNG)),)))
    files["36-detailer"] = AigifFile(meta=M(model="sd15", prompt=KNIGHT, seed=17, stages=(
        Hires(strength=0.45, steps=20),
        Detailer(detector="face_yolov8n.pt", strength=0.35, prompt="detailed face"))))
    files["37-unknown-stage"] = AigifFile(meta=M(model="sd15", prompt="x", seed=18, stages=(
        Hires(strength=0.5), UnknownStages(7, bytes([0x03, 0x2a, 0x01, 0x02])))))
    # video (presence bit VIDEO, element 10): defaults only, then each kind of field
    files["38-video-wan-t2v"] = AigifFile(meta=M(model=WAN, generator="wan", prompt=WAN_PROMPT,
                                                 negative_prompt="blurry", seed=42))
    files["39-video-fields"] = AigifFile(meta=M(
        model=WAN, generator="wan", prompt="a paper boat on a river", seed=43, width=1280,
        height=720, video=Video(frames=49, fps=Fraction(24000, 1001), flow_shift=5.0,
                                vae_tiling=True)))
    files["40-video-animatediff"] = AigifFile(meta=M(
        model="emilianJR/epiCRealism", generator="animatediff", prompt="a rocket launch",
        seed=44, steps=25, scheduler="ddim", video=Video(
            motion_adapter="guoyww/animatediff-motion-adapter-v1-5-3", decode_chunk_size=8)))
    files["41-video-i2v"] = AigifFile(meta=M(
        model="Lightricks/LTX-Video", generator="ltx_video", prompt="the house at night",
        seed=45, video=Video(frames=97, fps=24, image=Payload("png", TINY_PNG))))
    files["42-video-micro-conditioning"] = AigifFile(meta=M(
        model="ckpt:svd_like.safetensors", generator="hunyuan_video", prompt="waves", seed=46,
        video=Video(frames=61, motion_bucket_id=180, noise_aug_strength=0.02)))
    # a pixels-only video file: NO_MODEL | ELEMENTS | VIDEO (a video payload; the bytes are
    # only the Matroska magic here: a reader does not decode a payload to parse the file)
    files["43-pixels-only-video"] = AigifFile(meta=None, payload=Payload(
        "ffv1", bytes.fromhex("1a45dfa3")))
    # Stable Video Diffusion (generator 15, image-to-video): the defaults and the image only,
    # then every micro-conditioning field and min_guidance_scale set
    svd = "stabilityai/stable-video-diffusion-img2vid-xt"
    files["70-video-svd-i2v"] = AigifFile(meta=M(
        model=svd, generator="stable_video_diffusion", seed=47,
        video=Video(image=Payload("png", TINY_PNG))))
    files["71-video-svd-micro-conditioning"] = AigifFile(meta=M(
        model="stabilityai/stable-video-diffusion-img2vid", generator="stable_video_diffusion",
        seed=48, guidance_scale=2.5, params={"min_guidance_scale": 1.5},
        video=Video(frames=14, fps=6, image=Payload("png", TINY_PNG), motion_bucket_id=180,
                    noise_aug_strength=0.1, decode_chunk_size=8)))
    # a video fingerprint (algo 2): the digest of 8 black 32 x 32 frames (SHA-256 over
    # 32, 32, 8 as big-endian u32, then 24,576 zero bytes; truncated to 8 bytes)
    files["73-video-fingerprint"] = AigifFile(meta=M(
        model="aigif-tiny-video", prompt="a red circle moving from left to right", seed=7),
        fingerprint=Fingerprint(2, 32, 32, bytes.fromhex("07aebf6e0acb0d46")))
    # a well-known video model by code (37: Wan 2.1 T2V 1.3B, its defaults)
    files["74-video-model-code"] = AigifFile(meta=M(model="wan21-t2v-1.3b", prompt="a cat",
                                                    seed=1))
    # text method 3 (cm2, spec/text-coding.md part M3): a community-style prompt with
    # weights, a LoRA tag and mixed case, and a negative prompt (text-block vectors of the
    # method itself: spec/vectors/text/)
    files["80-text-cm2"] = AigifFile(meta=M(
        model="sd15", seed=80, negative_prompt="lowres, bad anatomy, bad hands, blurry",
        prompt="masterpiece, best quality, (portrait of a Knight:1.2), highly detailed, "
               "digital painting, ArtStation, concept art, sharp focus, art by greg rutkowski "
               "<lora:add_detail:0.8>"), text_method=3)
    return files


def expected(f: AigifFile) -> dict:
    d = {"meta": f.meta.to_dict() if f.meta is not None else None,
         "info": dict(f.info), "source": dict(f.source),
         "payload": None if f.payload is None else {"codec": f.payload.codec,
                                                    "data": f.payload.data.hex()},
         "fingerprint": None if f.fingerprint is None else {
             "algo": f.fingerprint.algo, "width": f.fingerprint.width,
             "height": f.fingerprint.height, "digest": f.fingerprint.digest.hex()},
         "residual": None if f.residual is None else f.residual.hex(),
         "unknown_elements": [{"type_id": e.type_id, "critical": e.critical,
                               "data": e.data.hex()} for e in f.unknown_elements]}
    return d


# ----------------------------------------------------------------- invalid, by hand
def v(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def wrap(body: bytes, version: int = 1) -> bytes:
    data = b"AI" + bytes([0xF0 | version]) + body
    crc = crc_hqx((len(data) + 2).to_bytes(4, "big"), crc_hqx(data, 0xFFFF))
    return data + crc.to_bytes(2, "big")


def utf8_text(p: bytes, n: bytes = b"") -> bytes:
    return v(0) + v(len(p)) + p + n


SD15 = v(17)
T, SEED, STEPS, G, SCH, SIZE, CS, SEEDH, PLAT, EL, NOMODEL = (1 << i for i in range(11))


def invalid_cases() -> dict[str, tuple[bytes, str, int | None]]:
    good = wrap(v(T | SEED) + SD15 + struct.pack(">I", 1) + utf8_text(b"hi"))
    big_el = b"".join(v(2 * (4096 + i)) + v(0) for i in range(65))
    cases = {
        "01-empty": (b"", "truncated", 0),
        "02-bad-signature": (b"\x89PNG\r\n\x1a\n", "not-aigif", 0),
        "03-signature-only": (b"A", "truncated", 1),
        "04-no-version": (b"AI", "truncated", 2),
        "05-version-2": (wrap(v(0) + SD15, version=2), "unsupported-version", 2),
        "06-bad-check": (good[:-1] + bytes([good[-1] ^ 0x01]), "checksum", len(good) - 2),
        "07-trailing-garbage": (good + b"\x00\x00", "checksum", len(good)),
        "08-truncated-body": (wrap(v(SEED) + SD15 + b"\x00\x01"), "truncated", 7),
        "09-unknown-critical-element": (wrap(v(EL) + SD15 + v(1) + v(2 * 4100 + 1) + v(2) + b"xx"),
                                        "unknown-critical-element", 7),
        "10-unknown-presence-bit": (wrap(v(1 << 11) + SD15), "unsupported-version", None),
        "11-overlong-varint": (wrap(b"\x80\x00" + SD15), "malformed", 3),
        "12-varint-too-long": (wrap(b"\xff" * 11), "malformed", 3),
        "13-bad-utf8-hub-id": (wrap(v(0) + v(0) + v(1) + v(3) + b"a\xffb" + v(0)), "malformed", 6),
        "14-bad-utf8-prompt": (wrap(v(T) + SD15 + v(0) + v(2) + b"\xc3\x28"), "malformed", 5),
        "15-string-over-limit": (wrap(v(0) + v(0) + v(1) + v(2000) + b"a" * 2000 + v(0)), "limit-exceeded", 6),
        "16-too-many-elements": (wrap(v(EL) + SD15 + v(65) + big_el), "limit-exceeded", 6),
        "17-unknown-scheduler": (wrap(v(SCH) + SD15 + v(999)), "malformed", 3),
        "18-unknown-model-code": (wrap(v(0) + v(120)), "unsupported-version", 3),
        "19-reserved-model-kind": (wrap(v(0) + v(5)), "malformed", None),
        "20-default-stored": (wrap(v(STEPS) + SD15 + v(50)), "non-canonical", 3),
        "21-steps-zero": (wrap(v(STEPS) + SD15 + v(0)), "malformed", 3),
        "22-dimension-zero": (wrap(v(SIZE) + SD15 + v(0) + v(16)), "limit-exceeded", 5),
        "23-guidance-reserved-mode": (wrap(v(G) + SD15 + v(3)), "malformed", 5),
        "24-elements-unsorted": (wrap(v(EL) + SD15 + v(2) + v(2 * 4) + v(2) + b"\x00\x00" + v(2 * 3) + v(1) + b"\x00"), "non-canonical", None),
        "25-duplicate-element": (wrap(v(EL) + SD15 + v(2) + v(2 * 3) + v(1) + b"\x00" + v(2 * 3) + v(1) + b"\x00"), "malformed", None),
        "26-seed-high-without-low": (wrap(v(SEEDH) + SD15 + b"\x00\x00\x00\x01"), "malformed", None),
        "27-unknown-text-method": (wrap(v(T) + SD15 + v(99) + b"abc"), "malformed", 5),
        "28-corrupt-brotli-text": (wrap(v(T) + SD15 + v(1) + b"\xff\xff\xff\xff"), "malformed", 5),
        "29-element-length-past-end": (wrap(v(EL) + SD15 + v(1) + v(2 * 3) + v(100) + b"ab"), "truncated", None),
        "30-criticality-mismatch": (wrap(v(EL) + SD15 + v(1) + v(2 * 2 + 1) + v(2) + v(1) + b"x"), "malformed", 7),
        "31-empty-text": (wrap(v(T) + SD15 + utf8_text(b"")), "non-canonical", 5),
        "32-no-model-no-elements": (wrap(v(NOMODEL)), "malformed", None),
        "33-over-long-guidance-float": (wrap(v(G) + SD15 + v(2) + struct.pack(">d", 7.5)), "non-canonical", 5),
        "34-text-length-past-end": (wrap(v(T) + SD15 + v(0) + v(50) + b"abc"), "malformed", 5),
        "35-nan-guidance": (wrap(v(G) + SD15 + v(2) + struct.pack(">d", float("nan"))), "malformed", 5),
        "36-too-short": (b"AI\xf1\x00\x00", "truncated", 5),
        "37-ascii-after-signature": (b"AIGIF is a format", "not-aigif", 0),
    }
    # STAGES (element 9, critical): body at offset 3 + 1 (SD15) + 1 (count) + 1 (type) + 1
    # (length) = 8 after the 2-byte presence word; each case below is one stage element.
    def stages(body: bytes) -> bytes:
        return wrap(v(EL) + SD15 + v(1) + v(2 * 9 + 1) + v(len(body)) + body)
    S = 9   # offset of the stage body in these files
    hires = v(1)
    cases.update({
        # upscale (2) allows bits 0-2 and 12: strength (bit 3) is not one of its fields
        "38-stage-bad-presence-bit": (stages(v(2) + v(1 << 3) + v(90)), "malformed", S),
        "39-stage-scale-and-size": (stages(hires + v(0b11) + v(6) + v(32) + v(32)), "malformed", S),
        # strength 0.45 in 1/10000 form (4500 << 1 | 1): the 1/100 form is canonical
        "40-stage-fraction-noncanonical": (stages(hires + v(1 << 3) + v(4500 << 1 | 1)), "non-canonical", S + 2),
        "41-stage-fraction-over-one": (stages(hires + v(1 << 3) + v(101 << 1)), "malformed", S + 2),
        "42-stage-count-over-limit": (stages((hires + v(0)) * 17), "limit-exceeded", S + 32),
        "43-stage-truncated": (stages(hires + v(1 << 4)), "truncated", None),
        "44-stage-default-stored": (stages(hires + v(1 << 4) + v(0)), "non-canonical", S),
        "45-refiner-without-model": (stages(v(4) + v(0)), "malformed", S),
        "46-bytes-after-body": (wrap(v(SEED) + SD15 + struct.pack(">I", 1) + b"\x00"),
                                "malformed", 9),
    })
    # VIDEO (presence bit 12, element 10, critical). WAN_AB: a hub model "a/b" of generator
    # 11 (wan), 7 bytes; the presence word is 2 bytes, so the model ends at offset 12 and a
    # video element's body starts at 12 + 1 (count) + 1 (type) + 1 (length) = 15.
    VIDEO = 1 << 12
    WAN_AB = v(0) + v(11) + v(3) + b"a/b" + v(0)
    def video(body: bytes, presence: int = VIDEO | EL, model: bytes = WAN_AB) -> bytes:
        return wrap(v(presence) + model + v(1) + v(2 * 10 + 1) + v(len(body)) + body)
    V = 15
    cases.update({
        "47-video-bit-on-image-family": (wrap(v(VIDEO) + SD15), "malformed", 3),
        "48-video-family-without-bit": (wrap(v(0) + WAN_AB), "malformed", 3),
        "49-video-element-without-bit": (video(v(1) + v(49), EL, SD15), "malformed", 9),
        "50-video-unknown-field-bit": (video(v(1 << 9)), "unsupported-version", V),
        "51-video-frames-over-limit": (video(v(1) + v(16385)), "limit-exceeded", V),
        # 16384 frames of Wan's default 832 x 480: frames x width x height over the limit
        "52-video-pixels-over-limit": (video(v(1) + v(16384)), "limit-exceeded", 3),
        "53-video-fps-denominator-one": (video(v(2) + v(16 << 1 | 1) + v(1)), "non-canonical", V),
        "54-video-fps-not-lowest-terms": (video(v(2) + v(32 << 1 | 1) + v(2)), "non-canonical", V),
        "55-video-default-stored": (video(v(1) + v(81)), "non-canonical", V),
        "56-video-fps-zero": (video(v(2) + v(0)), "malformed", V),
        "57-video-empty-element": (video(v(0)), "non-canonical", V),
        "58-video-tiling-not-bool": (video(v(1 << 8) + v(2)), "malformed", V),
        # generator 15 (stable_video_diffusion) with its default motion_bucket_id stored
        "72-video-svd-default-stored": (video(v(1 << 4) + v(127), model=v(0) + v(15) + v(3)
                                              + b"a/b" + v(0)), "non-canonical", V),
    })
    # a file's payload is of the file's kind (3.1): pixels element (2) with codec 12 (ffv1)
    # or 1 (png); the presence word is 2 bytes, the kind error is reported at it (3)
    MKV, PNG = v(12) + bytes.fromhex("1a45dfa3"), v(1) + TINY_PNG[:8]
    def pixels(body: bytes, presence: int, model: bytes = b"") -> bytes:
        return wrap(v(presence) + model + v(1) + v(2 * 2) + v(len(body)) + body)
    cases.update({
        "59-no-model-video-payload-without-bit": (pixels(MKV, NOMODEL | EL), "malformed", 3),
        "60-no-model-video-bit-image-payload": (pixels(PNG, NOMODEL | EL | VIDEO), "malformed", 3),
        "61-no-model-video-bit-no-payload": (wrap(v(NOMODEL | EL | VIDEO) + v(1) + v(2 * 4100)
                                                  + v(0)), "malformed", 3),
        "62-video-payload-in-image-file": (pixels(MKV, EL, SD15), "malformed", 3),
        "63-image-payload-in-video-file": (pixels(PNG, VIDEO | EL, WAN_AB), "malformed", 3),
    })
    return cases


def build() -> dict[Path, bytes]:
    out: dict[Path, bytes] = {}
    for name, f in valid_cases().items():
        with legacy_text_writer():
            out[HERE / "valid" / f"{name}.aigif"] = aigif.dumps(f)
        out[HERE / "valid" / f"{name}.json"] = (json.dumps(expected(f), ensure_ascii=False,
                                                           indent=1, sort_keys=True) + "\n").encode()
    for name, (data, code, off) in invalid_cases().items():
        out[HERE / "invalid" / f"{name}.aigif"] = data
        out[HERE / "invalid" / f"{name}.json"] = (json.dumps({"error": code, "offset": off},
                                                             indent=1) + "\n").encode()
    return out


def main() -> int:
    files = build()
    if "--check" in sys.argv:
        bad = [str(p) for p, b in files.items() if not p.exists() or p.read_bytes() != b]
        if bad:
            print("vectors differ from the generator:", *bad, sep="\n  ")
            return 1
        print(f"{len(files)} vector files match")
        return 0
    for p, b in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)
    print(f"wrote {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
