"""Generate an AIGIF file with the example extension and regenerate it.

    python examples/example_extension/make_tiny_model.py /tmp/tiny-uncond
    PYTHONPATH=examples/example_extension python examples/example_extension/demo.py /tmp/tiny-uncond
(or ``pip install -e examples/example_extension`` instead of PYTHONPATH: the entry point
then registers the generator; here, without an install, it is registered by hand.)
"""
from __future__ import annotations

import sys

import aigif
from aigif.registry import generators


def main(model_dir: str) -> None:
    if "uncond" not in generators:           # not pip-installed: register it by hand
        import aigif_uncond
        g = aigif_uncond.GENERATOR
        aigif.register_generator(g.key, code=g.code, defaults=g.defaults, backend=g.backend,
                                 description=g.description)
    aigif.register_model("tiny-uncond", model_dir)
    meta = aigif.GenerationMeta(model="tiny-uncond", seed=42, steps=4, width=8, height=8)
    image, data = aigif.generate(meta, device="cpu")
    res = aigif.loads(data).render(device="cpu")
    print(f"{len(data)} bytes; regenerated exactly: {res.exact}; size {res.image.size}")


if __name__ == "__main__":
    main(sys.argv[1])
