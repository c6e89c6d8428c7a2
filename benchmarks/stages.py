"""Multi-stage generation: bytes per file, and which imported multi-stage files render every
stage exactly vs only approximately.

    python benchmarks/stages.py [--verbose]

1. Bytes per file (``aigif.dumps``) for a typical SD 1.5 / SDXL file: single pass, + an
   A1111 hires fix, + an SDXL refiner, + a LoRA, + both.
2. Every multi-stage file the project has (tests/fixtures/interop, its writers/ set, the
   sd-parsers fixtures in ../shared, and the ComfyUI templates as API graphs when
   ``comfyui-workflow-templates-json`` is installed) is imported, and its stages planned
   by the renderer (``aigif.render.stages._plan``, no weights needed): "exact" when every
   stage is one the renderer executes as the file says, else "approximate" with the reason
   (an ESRGAN-family upscaler model, a detailer, a ControlNet whose control image is not in
   the file, an unknown kind). Rendering itself is bit-exact against hand-written diffusers
   calls per stage type (tests/test_render_stages.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import aigif  # noqa: E402
from aigif import interop  # noqa: E402
from aigif.errors import AigifError  # noqa: E402
from aigif.render.backends import get_backend  # noqa: E402
from aigif.render.stages import _plan  # noqa: E402
from aigif.stages import Hires, Refiner  # noqa: E402
from import_accuracy import api_graph, learn_widget_names, png  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "interop"
SHARED = ROOT.parent / "shared" / "fixtures" / "metadata" / "sd-parsers" / "parsers"


def byte_table() -> None:
    sd = aigif.GenerationMeta(model="sd15", prompt="a castle on a hill, oil painting, highly "
                              "detailed", negative_prompt="blurry", seed=1234, steps=30,
                              guidance_scale=7.5, scheduler="dpmpp_2m_karras")
    xl = aigif.GenerationMeta(model="sdxl", prompt="a castle on a hill, oil painting",
                              seed=1234, steps=30)
    hires = Hires(strength=0.45, steps=20)
    lora = (aigif.Lora("add_detail", 0.8),)
    refiner = Refiner(model="ckpt:sd_xl_refiner_1.0.safetensors", switch=0.8)
    rows = [("SD 1.5 single pass", sd), ("SD 1.5 + hires fix", sd.replace(stages=(hires,))),
            ("SD 1.5 + LoRA", sd.replace(loras=lora)),
            ("SD 1.5 + LoRA + hires fix", sd.replace(loras=lora, stages=(hires,))),
            ("SDXL single pass", xl), ("SDXL + refiner (checkpoint name)",
                                       xl.replace(stages=(refiner,)))]
    print("## Bytes per file\n\n| file | bytes |\n|---|---|")
    for name, m in rows:
        print(f"| {name} | {len(aigif.dumps(m))} |")


def _files(verbose: bool):
    for p in sorted(FIX.glob("*.json")):
        fx = json.loads(p.read_text(encoding="utf-8"))
        texts = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                 for k, v in fx["chunks"].items()]
        yield f"fixtures/{p.name}", png(texts)
    spec = importlib.util.spec_from_file_location("_b", FIX / "writers" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for p in sorted((FIX / "writers").glob("*.json")):
        yield f"writers/{p.name}", build.build(json.loads(p.read_text(encoding="utf-8")))
    for p in sorted(SHARED.rglob("*")) if SHARED.is_dir() else ():
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            yield f"sd-parsers/{p.parent.name}/{p.name}", p.read_bytes()
    try:
        import comfyui_workflow_templates_json as t
    except ImportError:
        return
    wfs = {p.name: json.loads(p.read_text(encoding="utf-8"))
           for p in sorted((Path(t.__file__).parent / "templates").glob("*.json"))}
    wfs = {k: v for k, v in wfs.items() if isinstance(v, dict)}
    names = learn_widget_names(wfs.values())
    for name, wf in wfs.items():
        yield f"templates/{name}", png([("prompt", json.dumps(api_graph(wf, names)))])


def plan_table(verbose: bool) -> None:
    counts: Counter = Counter()
    reasons: Counter = Counter()
    kinds: Counter = Counter()
    for name, data in _files(verbose):
        try:
            m = interop.read(data).meta
        except AigifError:
            continue
        if not m.stages:
            continue
        group = name.split("/")[0]
        for st in m.stages:
            kinds[st.name] += 1
        try:
            _, skipped = _plan(m, get_backend(m.generator), True)
        except AigifError as e:              # a family that does not run stages
            skipped = [f"{m.generator}: {e.message}"]
        counts[group, "approximate" if skipped else "exact"] += 1
        for s in skipped:
            reasons[s.split(":", 1)[1].strip().split(";")[0][:70] if ":" in s else s] += 1
        if verbose:
            print(f"{name}: {[st.name for st in m.stages]} -> "
                  f"{'approximate: ' + '; '.join(skipped) if skipped else 'exact'}")
    print("\n## Imported multi-stage files: every stage rendered as recorded?\n")
    print("| set | files with stages | exact | approximate |\n|---|---|---|---|")
    total = [0, 0]
    for group in sorted({g for g, _ in counts}):
        e, a = counts[group, "exact"], counts[group, "approximate"]
        total[0] += e
        total[1] += a
        print(f"| {group} | {e + a} | {e} | {a} |")
    n = sum(total)
    if n:
        print(f"| all | {n} | {total[0]} ({100 * total[0] / n:.0f} %) | {total[1]} |")
    print("\nstage kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("approximate because: " + "; ".join(f"{r} ({c})" for r, c in reasons.most_common(8)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    byte_table()
    plan_table(a.verbose)


if __name__ == "__main__":
    main()
