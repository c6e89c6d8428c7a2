"""Work limits of the importers: what one untrusted image may make a reader do.

These are not limits of the AIGIF format (those are in ``aigif.spec.limits``); they bound
the time and memory ``aigif.interop.read`` spends on another tool's file, whatever its
bytes. docs/interop.md ("Limits") gives the reason for each value.
"""
from __future__ import annotations

__all__ = ["MAX_INPUT_BYTES", "MAX_TEXT_BYTES", "MAX_FILE_TEXT_BYTES", "MAX_STEALTH_PIXELS",
           "MAX_STEALTH_SCAN_BYTES", "MAX_EXIF_ENTRIES", "MAX_GRAPH_VISITS", "MAX_GRAPH_TEXT_CHARS",
           "MAX_CONTAINER_TAGS"]

#: Largest image file read.
MAX_INPUT_BYTES = 512 * 1024 * 1024
#: Largest text taken from one chunk / EXIF value (decompressed); larger ones are skipped.
MAX_TEXT_BYTES = 16 * 1024 * 1024
#: Budget of text bytes one file may make the reader decode or decompress, all chunks,
#: EXIF values and XMP packets together. Checked before the work: a zTXt/iTXt chunk is
#: inflated with at most the budget left as its output limit.
MAX_FILE_TEXT_BYTES = 2 * MAX_TEXT_BYTES
#: EXIF directory entries read in one EXIF block, all directories together (directories
#: may overlap and point at each other).
MAX_EXIF_ENTRIES = 4096
#: Metadata tags read from one MP4/MOV or Matroska/WebM container (real files: a handful).
MAX_CONTAINER_TAGS = 256
#: Largest image (width x height, from the header) whose pixels are decoded to look
#: for alpha/RGB "stealth" metadata.
MAX_STEALTH_PIXELS = 4096 * 4096
#: Largest amount of raw (inflated) PNG scanline data read to check the stealth
#: signature without decoding the whole image.
MAX_STEALTH_SCAN_BYTES = 64 * 1024 * 1024
#: Node visits one ComfyUI graph trace may make (links followed, all walks together).
MAX_GRAPH_VISITS = 100_000
#: Longest prompt text built by ComfyUI string/concatenation nodes.
MAX_GRAPH_TEXT_CHARS = 1024 * 1024
