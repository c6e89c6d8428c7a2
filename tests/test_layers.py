"""The import-layer contract (docs/architecture.md), checked on the source: each aigif module
imports only modules of its own layer or of layers below it; the module import graph has no
cycle; and a function-level import is for laziness of heavy libraries only: inside a
function, an aigif module may be imported only when it imports a heavy third-party library
(torch, diffusers, transformers, numpy, Pillow...) at its top level, directly or through
the aigif modules it imports there."""
from __future__ import annotations

import ast
from pathlib import Path

import aigif

ROOT = Path(aigif.__file__).parent

#: Layers, bottom first. A module belongs to the longest entry that prefixes its name.
LAYERS: list[tuple[str, ...]] = [
    ("aigif.errors", "aigif.spec"),
    ("aigif.bitstream", "aigif.registry", "aigif._atomic"),
    ("aigif.textcoding", "aigif.meta", "aigif.stages", "aigif.video", "aigif.payload"),
    ("aigif.container",),
    ("aigif.io", "aigif.validate"),
    ("aigif.codecs",),
    ("aigif.render",),
    ("aigif.embedded", "aigif.document"),
    ("aigif.interop", "aigif.pillow", "aigif.scale"),
    ("aigif",),
    ("aigif.cli", "aigif.__main__"),
]

#: Third-party libraries whose import costs tens of milliseconds to seconds.
HEAVY = {"torch", "diffusers", "transformers", "numpy", "PIL", "safetensors", "pillow_jxl",
         "scipy", "accelerate", "cv2"}


def layer_of(mod: str) -> int:
    best, level = -1, None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (mod == n or mod.startswith(n + ".")) and len(n) > best:
                best, level = len(n), i
    assert level is not None, f"{mod} is in no layer: add it to LAYERS and docs/architecture.md"
    return level


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _tree(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return tree, {id(n) for f in funcs for n in ast.walk(f)}


def heavy_modules() -> set[str]:
    """aigif modules whose import imports a HEAVY library (at module level, transitively)."""
    mods = modules()
    direct, deps = set(), {}
    for mod, path in mods.items():
        tree, inner = _tree(path)
        for node in ast.walk(tree):
            if id(node) in inner or getattr(node, "col_offset", 1):  # module level only
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n and n.split(".")[0] in HEAVY for n in names):
                direct.add(mod)
        deps[mod] = {t for t, _, fl, col in imports(mod, path, cols=True) if not fl and not col}
    heavy, changed = set(direct), True
    while changed:
        changed = False
        for mod, ts in deps.items():
            if mod not in heavy and ts & heavy:
                heavy.add(mod)
                changed = True
    return heavy


def imports(mod: str, path: Path, cols: bool = False) -> list:
    """(imported aigif module, line, inside a function[, column]) for each import in
    ``path`` (an import under ``try:`` at module level has a column > 0)."""
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    known = modules()
    out = []
    tree, inner = _tree(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            # "from . import x": x may be a module
            targets = [f"{root}.{a.name}" if f"{root}.{a.name}" in known else root
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t == "aigif" or t.startswith("aigif."):
                while t not in known and "." in t:
                    t = t.rpartition(".")[0]
                out.append((t, node.lineno, id(node) in inner) +
                           ((node.col_offset,) if cols else ()))
    return out


def test_every_module_is_in_a_layer():
    for mod in modules():
        layer_of(mod)


def test_no_module_imports_a_layer_above_its_own():
    bad = []
    for mod, path in modules().items():
        for t, line, _ in imports(mod, path):
            if layer_of(t) > layer_of(mod) and not mod.startswith(t + "."):
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} {mod} -> {t}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_function_level_imports_are_for_heavy_modules_only():
    heavy = heavy_modules()
    bad = [f"{path.relative_to(ROOT.parent)}:{line} {mod} -> {t}"
           for mod, path in modules().items() for t, line, inner in imports(mod, path)
           if inner and t not in heavy]
    assert not bad, ("function-level imports of aigif modules that import nothing heavy "
                     "(import them at the top):\n" + "\n".join(bad))


def test_heavy_modules_are_the_expected_ones():
    """The exemption above covers only pixel, render-backend and model modules."""
    heavy = heavy_modules()
    assert "aigif.codecs.residual" in heavy and "aigif.embedded.pipeline" in heavy
    light = {"aigif", "aigif.io", "aigif.meta", "aigif.document", "aigif.codecs",
             "aigif.render", "aigif.render.engine", "aigif.interop", "aigif.validate",
             "aigif.cli.main"}
    assert not heavy & light, heavy & light


def test_module_graph_has_no_cycle():
    graph = {mod: {t for t, _, _ in imports(mod, path) if t != mod and not mod.startswith(t + ".")}
             for mod, path in modules().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
