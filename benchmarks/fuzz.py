"""Long fuzz run of every reader: mutants of all valid vectors and random sealed files.

Prints a table per reader: inputs tried, clean AigifErrors, other exceptions (must be 0),
worst time for one input, and the tracemalloc peak of the worst input. Exits 1 when any
reader let another exception escape (and prints the first few reproducers as hex).

    python benchmarks/fuzz.py                 # about 3 minutes
    python benchmarks/fuzz.py --seconds 30 --seed 7
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
import tracemalloc
from pathlib import Path

import aigif
import aigif.codecs as C
from aigif.io import check_value

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def seal(raw: bytes) -> bytes:
    return raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")


def mutate(rnd: random.Random, data: bytes) -> bytes:
    raw = bytearray(data[:-2])
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(raw)) if raw else 0
        op = rnd.randrange(6)
        if op == 0 and raw:
            raw[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and raw:
            raw[i] = rnd.choice((0, 0x7F, 0x80, 0xFF))
        elif op == 2:
            raw[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        elif op == 3:
            del raw[i:i + rnd.randint(1, 8)]
        elif op == 4:
            raw = raw[:i]
        else:  # length inflation: a varint that claims a huge length
            raw[i:i + 1] = b"\xff" * rnd.randint(1, 9) + b"\x3f"
    return seal(bytes(raw)) if rnd.random() < 0.95 else bytes(raw)


def inputs(rnd: random.Random, vectors: list[bytes], payloads: list[bytes]):
    while True:
        r = rnd.random()
        if r < 0.6:
            yield mutate(rnd, rnd.choice(vectors))
        elif r < 0.8:
            yield seal(b"AI\xf1" + rnd.randbytes(rnd.randint(0, 300)))
        else:
            yield mutate(rnd, rnd.choice(payloads))


def _pil(data: bytes):
    """PIL.Image.open through the AIGIF plugin. Bytes the plugin does not accept go to
    Pillow's other plugins (not aigif's reader): reported as a clean refusal."""
    import warnings

    from PIL import Image
    from aigif.pillow import _accept
    if not _accept(data[:16]):
        raise aigif.NotAigifError("not an AIGIF signature (left to Pillow's other plugins)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as im:
            im.load()


def _pixels(data: bytes):
    f = aigif.loads(data, strict=False)
    if f.payload is not None:
        C.decode_payload(f.payload)


READERS = {
    "loads": lambda d: aigif.loads(d),
    "loads-lenient": lambda d: aigif.loads(d, strict=False),
    "open": lambda d: aigif.open(io.BytesIO(d)),
    "validate": lambda d: aigif.validate(d),
    "PIL.Image.open": _pil,
    "pixel decode": _pixels,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="total run time")
    ap.add_argument("-n", type=int, default=0, help="stop after N inputs (0: by time)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-every", type=int, default=50,
                    help="trace memory on one input in this many (tracemalloc is slow)")
    a = ap.parse_args(argv)
    rnd = random.Random(a.seed)
    vectors = [p.read_bytes() for p in sorted((VEC / "valid").glob("*.aigif"))]
    from PIL import Image
    from aigif.document import AigifFile
    payloads = []
    for codec in C.available_codecs():
        p = C.encode_payload(Image.new("RGB", (24, 16), (200, 30, 90)), codec, quality=60)
        payloads.append(aigif.dumps(AigifFile(meta=None, payload=p)))
    stats = {k: {"n": 0, "clean": 0, "other": 0, "worst": 0.0, "peak": 0, "bad": []}
             for k in READERS}
    t_end = time.monotonic() + a.seconds
    count = 0
    for data in inputs(rnd, vectors, payloads):
        if (a.n and count >= a.n) or (not a.n and time.monotonic() > t_end):
            break
        trace = count % a.memory_every == 0
        for name, fn in READERS.items():
            s = stats[name]
            if trace:
                tracemalloc.start()
            t = time.perf_counter()
            try:
                fn(data)
            except aigif.AigifError:
                s["clean"] += 1
            except Exception as e:  # noqa: BLE001 - that is what we count
                s["other"] += 1
                if len(s["bad"]) < 3:
                    s["bad"].append(f"{type(e).__name__}: {e} <- {data.hex()}")
            dt = time.perf_counter() - t
            if trace:
                s["peak"] = max(s["peak"], tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            s["n"] += 1
            s["worst"] = max(s["worst"], dt)
        count += 1
    print(f"{count} inputs, seed {a.seed}\n")
    print(f"{'reader':<16} {'inputs':>8} {'AigifError':>11} {'other':>6} {'worst ms':>9} "
          f"{'peak MiB':>9}")
    for name, s in stats.items():
        print(f"{name:<16} {s['n']:>8} {s['clean']:>11} {s['other']:>6} "
              f"{s['worst'] * 1000:>9.1f} {s['peak'] / 2**20:>9.2f}")
    bad = [b for s in stats.values() for b in s["bad"]]
    for b in bad:
        print("ESCAPED:", b[:400])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
