"""Pillow plugin: ``PIL.Image.open("x.aigif")`` opens an AIGIF file's pixels.

One module in the shape of Pillow's own format plugins (``_accept``, an ``ImageFile``
subclass, ``_save``, then ``register_open`` / ``register_save`` / ``register_extension`` /
``register_mime`` when the module is imported). ``import aigif`` imports it when Pillow is
installed, so ``PIL.Image.open("x.aigif")`` works after ``import aigif``. Registers the
format ``"AIGIF"``, the ``.aigif`` extension and the MIME type ``image/aigif``.

Opening decodes the pixel payload (lazily for Pillow's own codecs: ``.size`` and
``.mode`` come from the payload header). A file with no payload is regenerated only when
``ALLOW_RENDER`` is true, since rendering can take minutes and needs model weights;
otherwise opening it raises ``aigif.errors.CodecError`` saying so. Every error is an
``AigifError``. The parsed file is ``im.aigif`` (an ``AigifFile``), and ``im.info`` holds
``"aigif_path"``: ``"pixels"``, ``"pixels+residual"`` or ``"render"``.

Saving writes a pixels-only file: ``im.save("x.aigif", fallback="avif", quality=60)``
(also ``lossless=`` and ``effort=``).

Example::

    >>> import aigif, PIL.Image                          # doctest: +SKIP
    >>> PIL.Image.open("castle.aigif").size
    (512, 512)
"""
from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from .codecs import DEFAULT_CODEC, Codec, _resolve, encode_payload
from .codecs._pillow import PillowCodec, _wrap, check_size, safe_decode
from .container import FileData
from .document import loads
from .errors import AigifError, CodecError, LimitExceededError
from .io import dumps
from .spec import MAX_FILE_BYTES, SIGNATURE, VERSION_MARK

__all__ = ["AigifImageFile", "FORMAT", "MIME", "EXTENSION", "ALLOW_RENDER"]

FORMAT = "AIGIF"
MIME = "image/aigif"
EXTENSION = ".aigif"
#: Regenerate files that carry no pixel payload when opened through Pillow.
ALLOW_RENDER = False


def _accept(prefix: bytes) -> bool:
    # any version: aigif.loads then names the unsupported version clearly
    n = len(SIGNATURE)
    return prefix[:n] == SIGNATURE and len(prefix) > n and prefix[n] & 0xF0 == VERSION_MARK


class AigifImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "AIGIF (generation syntax with optional pixel payload)"

    def _open(self) -> None:
        assert self.fp is not None
        data = self.fp.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise LimitExceededError(f"file is larger than {MAX_FILE_BYTES} bytes")
        f = loads(data)
        self.aigif = f
        self._inner: Image.Image | None = None
        if f.payload is not None:
            codec = _resolve(f.payload.codec)  # CodecError / MissingDependencyError
            if isinstance(codec, PillowCodec):  # header only now, pixels in load()
                self._inner = safe_decode(bytes(f.payload.data), [codec.pil_format],
                                          f"{codec.key} payload", probe_only=True)
            else:  # header first: a bomb is refused before the codec decodes (issue 13)
                data = bytes(f.payload.data)
                what = f"{codec.key} payload"
                try:
                    if type(codec).probe is not Codec.probe:  # a header-only probe
                        check_size(codec.probe(data), what)
                    self._inner = codec.decode(data)
                    check_size(self._inner.size, what)
                except AigifError:
                    raise
                except Exception as e:
                    raise _wrap(e, what) from e
            self._size, self._mode = self._inner.size, self._inner.mode
            self.info["aigif_path"] = "pixels"
        elif f.meta is not None and ALLOW_RENDER:  # regenerate now: the size needs it
            out = f.image(policy="render")
            self._inner = out.image
            self._size, self._mode = out.image.size, out.image.mode
            self.info["aigif_path"] = out.path
        elif f.meta is not None:
            raise CodecError(
                "this AIGIF file has no pixel payload, only generation syntax; Pillow does "
                "not regenerate images unless aigif.pillow.ALLOW_RENDER = True "
                "(or use aigif.open(path).render())")
        else:
            raise CodecError("this AIGIF file has neither generation syntax nor pixels")
        self.tile = []

    def load(self):
        if self._im is not None and self.im.size == self.size:  # already loaded
            return Image.Image.load(self)
        im = self._inner
        try:
            im.load()
        except Exception as e:
            raise _wrap(e, "AIGIF pixel payload") from e
        self.im = im.im
        self._mode = im.mode
        self._size = im.size
        self.info.update({k: v for k, v in im.info.items() if k == "icc_profile"})
        return Image.Image.load(self)

    def load_prepare(self) -> None:  # pragma: no cover - tiles are never used
        pass


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    opts = im.encoderinfo
    payload = encode_payload(im, opts.get("fallback", DEFAULT_CODEC), opts.get("quality"),
                             bool(opts.get("lossless", False)), opts.get("effort"))
    fp.write(dumps(FileData(meta=None, payload=payload)))


Image.register_open(FORMAT, AigifImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, EXTENSION)
Image.register_mime(FORMAT, MIME)
