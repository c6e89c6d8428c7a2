"""Typed-field accuracy of ``aigif.interop.read`` on real ComfyUI workflows and on the
interop fixtures.

Set 1, ``templates``: every UI workflow of the ``comfyui-workflow-templates-json``
package (MIT; ``pip install comfyui-workflow-templates-json``), written into a PNG
``workflow`` chunk without the package's own ``widgets_values_named`` helper (real files
do not have it) and read back. The reference is taken from that helper, independently
of the importer: the first-pass sampler is the ``KSampler`` / ``KSamplerAdvanced`` /
``SamplerCustomAdvanced`` whose latent input is linked straight to an empty-latent node
(the lowest id when several); its seed / steps / cfg / sampler + scheduler widgets (or
those of its ``RandomNoise`` / ``CFGGuider`` / ``KSamplerSelect`` / ``BasicScheduler``),
the empty latent's width / height, and the text of a ``CLIPTextEncode`` linked straight
to its positive / negative input. A widget that is itself fed by a link is not a
reference (its saved value may be stale) and is not counted.

Set 2, ``fixtures``: tests/fixtures/interop/*.json (each a file's text chunks and the
values its writer records), read back from rebuilt PNGs.

Set 3, ``writers``: tests/fixtures/interop/writers/*.json, one table row per tool (the
A1111 family, Fooocus, SwarmUI, InvokeAI, NovelAI, Draw Things, Easy Diffusion,
Midjourney-style descriptions, web-service JPEG/WebP), rebuilt as the PNG, JPEG or WebP
file each writer makes.

    python benchmarks/import_accuracy.py [--verbose]
"""
from __future__ import annotations

import io
import json
import sys
import zlib
import struct
from collections import defaultdict
from pathlib import Path

from aigif import interop
from aigif.errors import ImportMetadataError
from aigif.interop import samplers as sn

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "interop"
FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "scheduler",
          "width", "height")
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced")
_EMPTY = ("EmptyLatentImage", "EmptySD3LatentImage", "EmptyFlux2LatentImage",
          "EmptyHunyuanLatentVideo", "EmptyHunyuanImageLatent", "EmptyChromaRadianceLatentImage")


def png(texts: list[tuple[str, str]], size=(8, 8)) -> bytes:
    """A tiny grey PNG with tEXt / iTXt chunks (no Pillow needed)."""
    def chunk(t: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    w, h = size
    raw = b"".join(b"\0" + b"\x80" * (3 * w) for _ in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    for k, v in texts:
        try:
            out += chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1"))
        except UnicodeEncodeError:
            out += chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8"))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ set 1: templates
def _levels(wf: dict):
    """(nodes, links, path) of the top graph and of every subgraph that runs: ``path`` is
    the ids of the instance nodes down to it (the flattened node id is path + own id); a
    subgraph whose instances are all muted or bypassed runs nothing and is left out."""
    defs = {sg.get("id"): sg for sg in (wf.get("definitions") or {}).get("subgraphs") or []
            if isinstance(sg, dict)}
    todo, done = [(wf.get("nodes") or [], wf.get("links") or [], ())], set()
    while todo:
        nodes, links, path = todo.pop(0)
        yield nodes, links, path
        for n in sorted((n for n in nodes if isinstance(n, dict)), key=lambda n: str(n.get("id"))):
            sg = defs.get(n.get("type"))
            if sg is not None and n.get("mode", 0) not in (2, 4) and sg["id"] not in done \
                    and len(path) < 4:
                done.add(sg["id"])
                todo.append((sg.get("nodes") or [], sg.get("links") or [], path + (n.get("id"),)))


def _link_map(links) -> dict:
    out = {}
    for ln in links:
        if isinstance(ln, list) and len(ln) >= 5:
            out[ln[0]] = ln[1]
        elif isinstance(ln, dict):
            out[ln.get("id")] = ln.get("origin_id")
    return out


# widget order of the reference nodes, for templates without ``widgets_values_named``
_ORDER = {
    "KSampler": ["seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", None, "steps", "cfg", "sampler_name",
                         "scheduler"],
    "RandomNoise": ["noise_seed"], "CFGGuider": ["cfg"], "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"], "CLIPTextEncode": ["text"],
    **{k: ["width", "height"] for k in _EMPTY},
}


def _named(n: dict) -> dict:
    """widget name -> value, without the widgets fed by a link."""
    v = dict(n.get("widgets_values_named") or {})
    wv = n.get("widgets_values")
    if not v and isinstance(wv, list) and n.get("type") in _ORDER:
        v = {k: x for k, x in zip(_ORDER[n["type"]], wv) if k}
    for i in n.get("inputs") or []:
        if isinstance(i, dict) and isinstance(i.get("widget"), dict) and i.get("link") is not None:
            v.pop(i["widget"].get("name"), None)
    return v


def _is_empty(t: str) -> bool:
    return t in _EMPTY or (t.startswith("Empty") and "Latent" in t)


def _src(by_id: dict, lm: dict, n: dict, name: str, hops: int = 0) -> dict | None:
    """The node linked to input ``name`` of ``n`` (through reroutes)."""
    for i in n.get("inputs") or []:
        if isinstance(i, dict) and i.get("name") in (name, "") and i.get("link") in lm:
            s = by_id.get(lm[i["link"]])
            if s is not None and s.get("type") == "Reroute" and hops < 8:
                return _src(by_id, lm, s, "", hops + 1)
            return s
    return None


def _after_sampler(by_id: dict, lm: dict, lat: dict) -> bool:
    """Is a latent made from a sampler's output (upstream through LATENT links)?"""
    todo, seen = [lat], set()
    while todo and len(seen) < 200:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if x.get("type") in _SAMPLERS + ("SamplerCustom",):
            return True
        for i in x.get("inputs") or []:
            if isinstance(i, dict) and i.get("type") in ("LATENT", "*") and \
                    by_id.get(lm.get(i.get("link"))) is not None:
                todo.append(by_id[lm[i["link"]]])
    return False


def reference(wf: dict) -> dict | None:
    cands = []
    for nodes, links, path in _levels(wf):
        by_id = {n.get("id"): n for n in nodes if isinstance(n, dict)}
        lm = _link_map(links)
        for n in by_id.values():
            if n.get("type") in _SAMPLERS and n.get("mode", 0) == 0:
                lat = _src(by_id, lm, n, "latent_image")
                t = "" if lat is None else str(lat.get("type"))
                if lat is None or t in _SAMPLERS or "Upscale" in t or \
                        _after_sampler(by_id, lm, lat):
                    continue
                cands.append((0 if _is_empty(t) else 1, path + (n.get("id"),), n,
                              lat if _is_empty(t) else None, by_id, lm))
    if not cands:
        return None
    _, _, n, lat, by_id, lm = min(cands, key=lambda c: c[:2])

    def src(x: dict, name: str) -> dict | None:
        return _src(by_id, lm, x, name)

    ref: dict = {}
    w = _named(n)
    if n["type"] == "SamplerCustomAdvanced":
        for inp, keys in (("noise", ("noise_seed",)), ("guider", ("cfg",)),
                          ("sampler", ("sampler_name",)), ("sigmas", ("steps", "scheduler"))):
            s = src(n, inp)
            if s is not None:
                for k in keys:
                    if k in _named(s):
                        w[k] = _named(s)[k]
        g = src(n, "guider")
        pos = src(g, "positive") if g is not None else None
        neg = src(g, "negative") if g is not None else None
        if g is not None and g.get("type") == "BasicGuider":
            pos = src(g, "conditioning")
    else:
        pos, neg = src(n, "positive"), src(n, "negative")
    seed = w.get("seed", w.get("noise_seed"))
    if isinstance(seed, int):
        ref["seed"] = seed
    for k, f in (("steps", "steps"), ("cfg", "guidance_scale")):
        if isinstance(w.get(k), (int, float)) and not isinstance(w.get(k), bool):
            ref[f] = w[k]
    if isinstance(w.get("sampler_name"), str) and isinstance(w.get("scheduler"), str):
        ref["scheduler"] = (w["sampler_name"], w["scheduler"])
    lw = _named(lat) if lat is not None else {}
    if isinstance(lw.get("width"), int) and isinstance(lw.get("height"), int):
        ref["width"], ref["height"] = lw["width"], lw["height"]
    for f, enc in (("prompt", pos), ("negative_prompt", neg)):
        if enc is not None and enc.get("type") == "CLIPTextEncode" and isinstance(
                _named(enc).get("text"), str):
            ref[f] = _named(enc)["text"]
    return ref


def _strip_named(x):
    if isinstance(x, dict):
        return {k: _strip_named(v) for k, v in x.items() if k != "widgets_values_named"}
    if isinstance(x, list):
        return [_strip_named(v) for v in x]
    return x


def _matches(f: str, want, r) -> bool:
    m = r.meta
    if f == "scheduler":
        smp, sch = want
        keys = {sn.from_comfyui(smp, sch, flow=False), sn.from_comfyui(smp, sch, flow=True)}
        if m.scheduler in keys - {None}:
            return True
        return m.params.get("sampler") == smp and m.params.get("schedule_type") == sch
    if f == "guidance_scale":
        return m.guidance_scale == want or m.params.get("cfg") == want or (
            want == 1.0 and "cfg" not in m.params and m.guidance_scale is not None)
    return getattr(m, f) == want


def templates(verbose: bool) -> dict:
    try:
        import comfyui_workflow_templates_json as t
    except ImportError:
        print("comfyui-workflow-templates-json is not installed: set 1 skipped")
        return {}
    root = Path(t.__file__).parent / "templates"
    stats: dict = defaultdict(lambda: [0, 0, 0])   # class -> [files, fields ok, fields]
    for p in sorted(root.glob("*.json")):
        wf = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(wf, dict):
            continue
        ref = reference(wf)
        if not ref:
            continue
        cls = p.name.split("_", 1)[0].lower()
        cls = cls if cls in ("image", "video", "api", "3d", "audio", "flux", "sdxl",
                             "sd3.5", "hidream", "default") else "other"
        cls += "/subgraph" if (wf.get("definitions") or {}).get("subgraphs") else "/flat"
        text = json.dumps(_strip_named(wf), ensure_ascii=False)
        try:
            r = interop.read(png([("workflow", text)]))
        except ImportMetadataError as e:
            r = None
            if verbose:
                print(f"{p.name}: {e}")
        st = stats[cls]
        st[0] += 1
        for f, want in ref.items():
            st[2] += 1
            ok = r is not None and _matches(f, want, r)
            st[1] += ok
            if not ok and verbose:
                got = None if r is None else (getattr(r.meta, f), r.meta.params.get("sampler"))
                print(f"{p.name}: {f}: want {str(want)[:60]!r} got {str(got)[:60]!r}")
    return stats


# ------------------------------------------------------------------ set 2: fixtures
def fixtures(verbose: bool) -> dict:
    stats: dict = defaultdict(lambda: [0, 0, 0])
    for p in sorted(FIXTURES.glob("*.json")):
        fx = json.loads(p.read_text(encoding="utf-8"))
        texts = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                 for k, v in fx["chunks"].items()]
        r = interop.read(png(texts))
        st = stats[fx.get("tool", p.stem.split("_")[0])]
        st[0] += 1
        for f, want in fx["expect"].items():
            st[2] += 1
            got = getattr(r.meta, f) if f in FIELDS or f in ("clip_skip", "model") else \
                r.meta.params.get(f)
            st[1] += got == want
            if got != want and verbose:
                print(f"{p.name}: {f}: want {want!r} got {got!r}")
    return stats


# ------------------------------------------------------------------ set 3: other writers
def _load_build():
    """tests/fixtures/interop/writers/build.py (rebuilds PNG/JPEG/WebP files; no Pillow)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_writers_build", FIXTURES / "writers" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def writers(verbose: bool) -> dict:
    """Per tool: tests/fixtures/interop/writers/*.json (A1111 family, Fooocus, SwarmUI,
    InvokeAI, NovelAI, Draw Things, Easy Diffusion, Midjourney-style, web services) in the
    container each writer uses, read back; the tool detected counts as one more field."""
    build = _load_build().build
    stats: dict = defaultdict(lambda: [0, 0, 0])
    for p in sorted((FIXTURES / "writers").glob("*.json")):
        fx = json.loads(p.read_text(encoding="utf-8"))
        try:
            r = interop.read(build(fx))
        except ImportMetadataError as e:
            r = None
            if verbose:
                print(f"{p.name}: {e}")
        st = stats[p.stem.split("_")[0]]
        st[0] += 1
        for f, want in list(fx["expect"].items()) + [("tool", fx["tool"])]:
            st[2] += 1
            if r is None:
                got = None
            elif f == "tool":
                got = r.tool
            else:
                got = getattr(r.meta, f) if f in FIELDS or f in ("clip_skip", "model") else \
                    r.meta.params.get(f)
            st[1] += got == want
            if got != want and verbose:
                print(f"{p.name}: {f}: want {want!r} got {got!r}")
    return stats


def _table(title: str, stats: dict) -> tuple[int, int]:
    print(f"\n{title}\n{'class':<24}{'files':>7}{'fields':>8}{'right':>8}{'accuracy':>10}")
    ok = tot = 0
    for k in sorted(stats):
        n, good, all_ = stats[k]
        ok, tot = ok + good, tot + all_
        print(f"{k:<24}{n:>7}{all_:>8}{good:>8}{100 * good / max(all_, 1):>9.1f}%")
    print(f"{'all':<24}{sum(s[0] for s in stats.values()):>7}{tot:>8}{ok:>8}"
          f"{100 * ok / max(tot, 1):>9.1f}%")
    return ok, tot


def main() -> None:
    verbose = "--verbose" in sys.argv
    _table("templates (comfyui-workflow-templates-json, UI workflow only)", templates(verbose))
    _table("fixtures (tests/fixtures/interop)", fixtures(verbose))
    _table("other writers (tests/fixtures/interop/writers, per tool)", writers(verbose))


if __name__ == "__main__":
    main()
