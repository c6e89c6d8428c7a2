"""Hard limits of AIGIF v1. A reader MUST refuse a file over any of them."""

MAX_FILE_BYTES = 64 * 1024 * 1024        # whole file
MAX_TEXT_CHARS = 32_768                  # each of prompt and negative prompt, in code points
MAX_TEXT_BYTES = 4 * MAX_TEXT_CHARS      # UTF-8 bytes of each prompt
MAX_TEXT_BLOCK_BYTES = 2 * MAX_TEXT_BYTES + 16  # coded text block
MAX_STRING_BYTES = 1024                  # ids, versions, names, keys
MAX_INFO_VALUE_BYTES = 1024 * 1024       # values in INFO / PARAMS / SOURCE
MAX_ELEMENTS = 64                        # extension elements in one file
MAX_ELEMENT_BYTES = MAX_FILE_BYTES       # one element body
MAX_ENTRIES = 256                        # key/value pairs or list items in one element
MAX_STEPS = 10_000
MAX_GUIDANCE = 1000.0
MAX_DIMENSION = 16_384                   # width and height, pixels
MAX_CLIP_SKIP = 64
MAX_THREADS = 65_536
MAX_SEED = 2**64 - 1
MAX_DECOMPRESSED_PIXELS = 16_384 * 16_384  # pixel payload decode limit
MAX_VARINT_BYTES = 10
MAX_STAGES = 16                          # stages after the text-to-image pass
MAX_VIDEO_FRAMES = 16_384                # frames of one video
MAX_FPS = 1000                           # frame rate of a video, frames per second
MAX_FPS_DENOMINATOR = 65_535             # denominator of an exact frame rate

__all__ = [n for n in dir() if n.isupper()]
