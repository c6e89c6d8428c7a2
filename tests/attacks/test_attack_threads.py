"""Attack: first use of a lazy registry from many threads at once (issue 13, item 7).

Every scenario runs in a FRESH interpreter (``python -c``): the races are on first use, so a
warmed-up test process would hide them. Eight threads wait on a barrier, then all make the
same first call; every call must succeed and give the same result as a warm process.
"""
import json
import subprocess
import sys
import textwrap

import pytest

import aigif
from aigif import GenerationMeta

THREADS = 8

# The child: run CALL (an expression using `arg`) from THREADS threads released together;
# print JSON {"errors": [...], "results": [...]} with repr()s of what each thread got.
_CHILD = textwrap.dedent("""
    import json, sys, threading
    sys.setswitchinterval(1e-6)            # hand the GIL over as often as possible
    arg = json.loads(sys.argv[1])
    import time
    class SlowImport:                      # a slow disk: imports of lazy parts take 50 ms,
        def find_spec(self, name, path=None, target=None):   # widening any race window
            if name.startswith("aigif.") and name.count(".") >= 2:
                time.sleep(0.05)
            return None
    sys.meta_path.insert(0, SlowImport())
    SETUP
    barrier = threading.Barrier(NTHREADS)
    errors, results = [], []
    def work():
        barrier.wait()
        try:
            results.append(CALL)
        except BaseException as e:
            errors.append(f"{type(e).__name__}: {e}")
    ts = [threading.Thread(target=work) for _ in range(NTHREADS)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(json.dumps({"errors": errors, "results": results}))
""")


def _race(setup: str, call: str, arg) -> list:
    code = (_CHILD.replace("SETUP", setup).replace("CALL", call)
            .replace("NTHREADS", str(THREADS)))
    r = subprocess.run([sys.executable, "-c", code, json.dumps(arg)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["errors"] == [], out["errors"]
    assert len(out["results"]) == THREADS
    return out["results"]


# prompts the context model (cm1, a lazily loaded text method) codes shortest
_PROMPTS = ["masterpiece, best quality, 1girl, solo, looking at viewer",
            "a photo of a cat sitting on a windowsill, highly detailed, 8k"]


def _cm1_file() -> tuple[GenerationMeta, bytes]:
    meta = GenerationMeta(model="sd15", prompt=_PROMPTS[0], negative_prompt=_PROMPTS[1],
                          seed=7)
    data = aigif.dumps(meta)
    # a file whose text is coded by a lazily loaded context model (cm1 or cm2: the writer
    # keeps the shortest, and both tables load on first use)
    assert aigif.loads(data).text_method in (2, 3), "the fixture must be a cm1/cm2 file"
    return meta, data


def test_loads_cm1_from_threads_on_first_use():
    meta, data = _cm1_file()
    got = _race("import aigif", "aigif.loads(bytes.fromhex(arg)).meta.to_dict()", data.hex())
    assert all(g == meta.to_dict() for g in got)


def test_dumps_from_threads_on_first_use_is_canonical():
    meta, data = _cm1_file()
    got = _race("import aigif; m = aigif.GenerationMeta.from_dict(arg)",
                "aigif.dumps(m).hex()", meta.to_dict())
    # all identical and the canonical bytes (a context model, the shortest), not a longer
    # fallback
    assert set(got) == {data.hex()}


def test_open_path_from_threads_on_first_use(tmp_path):
    meta, data = _cm1_file()
    p = tmp_path / "cm1.aigif"
    p.write_bytes(data)
    got = _race("import aigif", "aigif.open(arg).meta.prompt", str(p))
    assert got == [meta.prompt] * THREADS


def test_mixed_loads_and_dumps_on_first_use():
    meta, data = _cm1_file()
    setup = ("import aigif, itertools; m = aigif.GenerationMeta.from_dict(arg[0]); "
             "data = bytes.fromhex(arg[1]); flip = itertools.count()")
    call = ("(aigif.dumps(m) if next(flip) % 2 else aigif.dumps(aigif.loads(data).meta)).hex()")
    got = _race(setup, call, [meta.to_dict(), data.hex()])
    assert set(got) == {data.hex()}


def test_textcoding_lookups_on_first_use():
    got = _race("from aigif.textcoding import candidates, get_method",
                "(get_method(2).key, [m.key for m in candidates()])", None)
    assert got == [["cm1", ["utf8", "brotli", "cm1", "cm2"]]] * THREADS


_PLUGIN = textwrap.dedent("""
    import time
    time.sleep(0.05)                       # a slow import widens any first-use window
    from aigif.codecs import Codec
    from aigif.registry import GeneratorInfo
    from aigif.spec.models import Defaults

    class AcmeCodec(Codec):
        key, code = "acme", 100

    GEN = GeneratorInfo("acmegen", 1500, Defaults(steps=9, guidance_scale=2.0,
                                                   scheduler="euler", width=64, height=64))
""")


def _entry_point_plugin(root):
    """An installed distribution (on sys.path) with aigif.codecs/aigif.generators entries."""
    (root / "acme_plugin.py").write_text(_PLUGIN)
    di = root / "acme_plugin-1.0.dist-info"
    di.mkdir()
    (di / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (di / "entry_points.txt").write_text("[aigif.codecs]\nacme = acme_plugin:AcmeCodec\n\n"
                                         "[aigif.generators]\nacmegen = acme_plugin:GEN\n")


def test_other_lazy_registries_on_first_use(tmp_path):
    """Codec registry ("module:attr" entries, instances made on first use), generator and
    model registries (entry-point discovery and loading on first lookup), scheduler table,
    Pillow plugin registration: all first used together from every thread."""
    _entry_point_plugin(tmp_path)
    setup = ("sys.path.insert(0, arg[1]); import io, aigif; from PIL import Image; "
             "from aigif.codecs import codec_for_code, get_codec; "
             "from aigif.registry import generators, lookup_model; "
             "from aigif.meta import scheduler_code")
    call = ("(codec_for_code(1).key, type(get_codec('webp')).__name__, "
            "sorted(generators.keys()), lookup_model('sd15').generator, "
            "generators.key_for_code(1), scheduler_code('dpmpp_2m_karras'), "
            "get_codec('acme').code, codec_for_code(100).key, generators.get('acmegen').code, "
            "Image.open(io.BytesIO(bytes.fromhex(arg[0]))).format, "
            "Image.ID.count('AIGIF'))")
    png = aigif.dumps(aigif.AigifFile(meta=None, payload=aigif.codecs.encode_payload(
        _tiny_image(), "png", None, True)))
    got = _race(setup, call, [png.hex(), str(tmp_path)])
    assert all(g == got[0] for g in got), got
    assert got[0][0] == "png" and got[0][-5:] == [100, "acme", 1500, "AIGIF", 1]


def _tiny_image():
    from PIL import Image
    return Image.new("RGB", (8, 8), "red")
