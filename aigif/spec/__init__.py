"""Frozen numeric codes and hard limits of the AIGIF v1 format.

Nothing here has logic. Every code that appears in a file is listed here; codes are
appended, never changed or reused. The normative text is ``spec/aigif-v1.md`` in the
repository; ``tests/test_spec.py`` checks that the two agree.
"""
from __future__ import annotations

from enum import IntEnum, IntFlag

from .limits import *  # noqa: F401,F403
from .models import (GENERATOR_PRIVATE, GENERATORS, MODELS, Defaults, GeneratorSpec,  # noqa: F401
                     ModelSpec, VideoDefaults)

#: The first bytes of every AIGIF file: "AI".
SIGNATURE = b"AI"
#: Format version written by this library (major version 1).
VERSION = 1
#: The byte after the signature: 0xF0 | version. Its high nibble completes the
#: signature ("AI\xf1" for version 1, never valid ASCII); its low nibble is the version.
VERSION_MARK = 0xF0
HEADER = SIGNATURE + bytes([VERSION_MARK | VERSION])


class Presence(IntFlag):
    """Bits of the presence word (a varint) that say which core fields follow.

    The seven most frequent fields take bits 0..6 so that a typical file spends one byte.
    A reader MUST refuse a file with a presence bit it does not know.
    """

    TEXT = 1 << 0          # prompt / negative prompt text block (last in the body)
    SEED = 1 << 1          # seed, low 32 bits
    STEPS = 1 << 2
    GUIDANCE = 1 << 3
    SCHEDULER = 1 << 4
    SIZE = 1 << 5          # width and height
    CLIP_SKIP = 1 << 6
    SEED_HIGH = 1 << 7     # seed, high 32 bits (seeds >= 2**32)
    PLATFORM = 1 << 8
    ELEMENTS = 1 << 9      # extension element list
    NO_MODEL = 1 << 10     # no generation syntax: a pixels-only file (elements only)
    # bit 11 stays unassigned: conformance vector 10 checks that readers refuse it
    VIDEO = 1 << 12        # a video: the generator is a video family (VIDEO element: fields)


KNOWN_PRESENCE_BITS = int(sum(Presence))


class ModelKind(IntEnum):
    """First varint of the model field. Values >= WELL_KNOWN_BASE are model codes."""

    HUB = 0                # generator code, hub repo id, revision
    LOCAL = 1              # generator code, content hash of the weights
    CKPT = 2               # generator code, checkpoint name, hash/revision string
    # 3..15 reserved


WELL_KNOWN_BASE = 16


class GuidanceMode(IntEnum):
    """Low two bits of the guidance varint."""

    HALF = 0               # value = q / 2
    MILLI = 1              # value = q / 1000
    FLOAT64 = 2            # q == 0, then 8 bytes IEEE-754 binary64 big-endian
    # 3 reserved


class SizeMode(IntEnum):
    """Low bit of a width/height varint."""

    UNIT64 = 0             # value = q * 64
    PIXELS = 1             # value = q


class TextMethod(IntEnum):
    """How the prompt and negative prompt are coded (first varint of the text block)."""

    UTF8 = 0               # raw UTF-8
    BROTLI = 1             # UTF-8, brotli-compressed
    CM1 = 2                # context model of prompts, version 1 (spec/text-coding.md)
    CM2 = 3                # context model version 2: CLIP BPE pieces, KN escape chain
    # 4.. reserved for later context-model versions (one code per frozen model)


class Scheduler(IntEnum):
    """Scheduler codes. The lowercase key of each is what GenerationMeta uses."""

    DDIM = 1
    PNDM = 2
    LMS = 3
    LMS_KARRAS = 4
    EULER = 5
    EULER_A = 6
    HEUN = 7
    DPM2 = 8
    DPM2_KARRAS = 9
    DPM2_A = 10
    DPM2_A_KARRAS = 11
    DPMPP_2M = 12
    DPMPP_2M_KARRAS = 13
    DPMPP_2M_SDE = 14
    DPMPP_2M_SDE_KARRAS = 15
    DPMPP_SDE = 16
    DPMPP_SDE_KARRAS = 17
    DPMPP_2S_A = 18
    DPMPP_2S_A_KARRAS = 19
    DPMPP_3M_SDE = 20
    DPMPP_3M_SDE_KARRAS = 21
    UNIPC = 22
    DEIS = 23
    LCM = 24
    DDPM = 25
    FLOW_EULER = 26        # FlowMatchEulerDiscreteScheduler (SD3, FLUX)
    DPMPP_2M_SDE_EXPONENTIAL = 27
    DPMPP_2M_EXPONENTIAL = 28
    EULER_KARRAS = 29
    DPMPP_SDE_EXPONENTIAL = 30
    TCD = 31
    DPMPP_2M_BETA = 32
    EULER_BETA = 33
    UNIPC_KARRAS = 34
    COGVIDEOX_DDIM = 35    # CogVideoXDDIMScheduler (CogVideoX-2b's own)
    COGVIDEOX_DPM = 36     # CogVideoXDPMScheduler (CogVideoX-5b's own)
    # private range for third parties: 1024..2047


SCHEDULER_PRIVATE = range(1024, 2048)


class Device(IntEnum):
    UNKNOWN = 0
    CPU = 1
    CUDA = 2
    MPS = 3
    XPU = 4
    ROCM = 5
    NPU = 6


class DType(IntEnum):
    UNKNOWN = 0
    FLOAT32 = 1
    FLOAT16 = 2
    BFLOAT16 = 3
    FLOAT64 = 4
    FLOAT8_E4M3 = 5


class DeterminismFlag(IntFlag):
    """Bits of the platform element's flags varint."""

    DETERMINISTIC_ALGORITHMS = 1 << 0   # torch.use_deterministic_algorithms(True)
    CUDNN_BENCHMARK = 1 << 1            # torch.backends.cudnn.benchmark
    TF32_MATMUL = 1 << 2                # torch.backends.cuda.matmul.allow_tf32
    TF32_CUDNN = 1 << 3                 # torch.backends.cudnn.allow_tf32
    REDUCED_PRECISION_REDUCTION = 1 << 4  # fp16/bf16 reduced-precision reductions


KNOWN_DETERMINISM_BITS = int(sum(DeterminismFlag))


class Element(IntEnum):
    """Extension element type ids (before the critical bit is added).

    On disk the type varint is ``id << 1 | critical``; criticality is frozen per id.
    """

    FINGERPRINT = 1        # ancillary: digest of the intended pixels
    PIXELS = 2             # ancillary: pixel payload (codec code + bytes)
    INFO = 3               # ancillary: free-form key/value text (software, author...)
    SOURCE = 4             # ancillary: verbatim metadata of the tool that made the image
    PARAMS = 5             # critical: extra generation parameters (key -> typed value)
    LORAS = 6              # critical: LoRA / adapter list
    RESIDUAL = 7           # ancillary: refinement layer over the regenerated pixels
    SCHEDULER_OPTIONS = 8  # critical: scheduler options beyond the scheduler code
    STAGES = 9             # critical: stages after the text-to-image pass (hires, refiner...)
    VIDEO = 10             # critical: video fields that differ from the family's defaults
    # 11..4095 reserved for the spec; 4096..8191 private (third parties)


ELEMENT_PRIVATE = range(4096, 8192)

#: Frozen criticality of each spec element id.
ELEMENT_CRITICAL = {
    Element.FINGERPRINT: False,
    Element.PIXELS: False,
    Element.INFO: False,
    Element.SOURCE: False,
    Element.PARAMS: True,
    Element.LORAS: True,
    Element.RESIDUAL: False,
    Element.SCHEDULER_OPTIONS: True,
    Element.STAGES: True,
    Element.VIDEO: True,
}


class VideoField(IntFlag):
    """Bits of the VIDEO element's presence varint (spec "Syntax: video fields")."""

    FRAMES = 1 << 0
    FPS = 1 << 1
    IMAGE = 1 << 2
    MOTION_ADAPTER = 1 << 3
    MOTION_BUCKET_ID = 1 << 4
    NOISE_AUG_STRENGTH = 1 << 5
    FLOW_SHIFT = 1 << 6
    DECODE_CHUNK_SIZE = 1 << 7
    VAE_TILING = 1 << 8


KNOWN_VIDEO_FIELDS = int(sum(VideoField))


class StageKind(IntEnum):
    """Kinds of the stages in the STAGES element (spec "Codes: stage kinds")."""

    HIRES = 1              # upscale, then img2img at the new size
    UPSCALE = 2            # upscale only
    IMG2IMG = 3            # a new denoising pass at the same size
    REFINER = 4            # SDXL-style hand-over of the previous pass's latents
    CONTROLNET = 5         # conditions a pass with a ControlNet
    DETAILER = 6           # detect regions and re-denoise each
    # 7..1023 reserved for the spec; 1024..2047 private (third parties)


STAGE_PRIVATE = range(1024, 2048)


class StageField(IntFlag):
    """Bits of a stage's presence varint (spec "Syntax: stage fields")."""

    SCALE = 1 << 0
    SIZE = 1 << 1
    UPSCALER = 1 << 2
    STRENGTH = 1 << 3
    STEPS = 1 << 4
    GUIDANCE = 1 << 5
    SCHEDULER = 1 << 6
    SEED = 1 << 7
    TEXT = 1 << 8
    MODEL = 1 << 9
    LORAS = 1 << 10
    CLIP_SKIP = 1 << 11
    PARAMS = 1 << 12
    SWITCH = 1 << 13
    AESTHETIC = 1 << 14
    NEGATIVE_AESTHETIC = 1 << 15
    CN_MODEL = 1 << 16
    CN_SCALE = 1 << 17
    CN_RANGE = 1 << 18
    CN_PASS = 1 << 19
    CN_IMAGE = 1 << 20
    DETECTOR = 1 << 21
    CONFIDENCE = 1 << 22
    MASK_BLUR = 1 << 23


def _bits(*ranges: tuple[int, int]) -> int:
    return sum(1 << b for lo, hi in ranges for b in range(lo, hi + 1))


#: Frozen presence bits each stage kind allows (any other bit is malformed).
STAGE_FIELDS = {
    StageKind.HIRES: _bits((0, 12)),
    StageKind.UPSCALE: _bits((0, 2), (12, 12)),
    StageKind.IMG2IMG: _bits((3, 12)),
    StageKind.REFINER: _bits((4, 9), (12, 15)),
    StageKind.CONTROLNET: _bits((12, 12), (16, 20)),
    StageKind.DETAILER: _bits((3, 9), (12, 12), (21, 23)),
}


class Upscaler(IntEnum):
    """How a hires / upscale stage resizes (key: the name lowercased, '_' -> '-')."""

    LATENT = 0                       # latents, bilinear (A1111 "Latent")
    LATENT_ANTIALIASED = 1           # latents, bilinear, antialias
    LATENT_BICUBIC = 2
    LATENT_BICUBIC_ANTIALIASED = 3
    LATENT_NEAREST = 4
    LATENT_NEAREST_EXACT = 5         # ComfyUI's default
    LATENT_AREA = 6
    LANCZOS = 16                     # decoded pixels
    BICUBIC = 17
    BILINEAR = 18
    NEAREST = 19
    MODEL = 32                       # a pixel upscaler network (followed by its model)


class FingerprintAlgo(IntEnum):
    SHA256_RGB8 = 1        # SHA-256 over "W H" header + RGB8 rows; digest truncated
    SHA256_RGB8_VIDEO = 2  # SHA-256 over "W H T" header + RGB8 frames in order; truncated


class PixelCodec(IntEnum):
    """Pixel payload codec codes (the codec classes are ``aigif.codecs.Codec``)."""

    PNG = 1
    WEBP = 2
    AVIF = 3
    JXL = 4
    JPEG = 5
    STH = 6       # learned: mean-scale hyperprior, soft-then-hard (aigif.codecs.learned.sth)
    NVTC = 7      # learned: Nonlinear Vector Transform Coding (aigif.codecs.learned.nvtc)
    AV1 = 8       # video: AV1 in WebM (aigif.codecs.video)
    VP9 = 9       # video: VP9 in WebM
    H264 = 10     # video: H.264 in MP4
    H265 = 11     # video: H.265 in MP4
    FFV1 = 12     # video: FFV1 (lossless, RGB) in Matroska
    GITSSIC = 13  # learned: group-structured, regions decodable alone (aigif.codecs.learned.gitssic)
    OMNI_ICM = 14  # learned: coding for machines, features (aigif.codecs.learned.omni_icm)
    ENVC = 15     # learned video: cross-scale flows (aigif.codecs.learned.lvc.envc)
    VLVC = 16     # learned video: voxel flows, flow prediction (aigif.codecs.learned.lvc.vlvc)
    SSVC = 17     # learned video: semantically structured, per-group streams (lvc.ssvc)
    IMCLVC = 18   # learned video: flow net, context mining, super-resolution (lvc.imclvc)
    # 64..127 private


CODEC_PRIVATE = range(64, 128)

#: Codes of the video codecs (spec 6.2, video payloads): their payload is a sequence of
#: frames, and a file holding one is a video file (presence bit VIDEO).
VIDEO_CODECS = frozenset({PixelCodec.AV1, PixelCodec.VP9, PixelCodec.H264, PixelCodec.H265,
                          PixelCodec.FFV1, PixelCodec.ENVC, PixelCodec.VLVC, PixelCodec.SSVC,
                          PixelCodec.IMCLVC})


class ValueType(IntEnum):
    """Type tags of typed values in PARAMS / INFO elements."""

    NULL = 0
    FALSE = 1
    TRUE = 2
    UINT = 3      # varint
    NINT = 4      # varint, value = -1 - n
    FLOAT = 5     # binary64 big-endian
    TEXT = 6      # UTF-8 string
    BYTES = 7
