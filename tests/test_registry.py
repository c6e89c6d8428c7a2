"""Registries: generators, schedulers, duplicates, entry-point discovery by name."""
import pytest

import aigif
from aigif.errors import RegistryError
from aigif.registry import Registry, generators


def test_register_generator_private_range_and_defaults_roundtrip():
    aigif.register_generator("acme_gen", code=1500, defaults=dict(
        steps=12, guidance_scale=2.5, scheduler="euler", width=640, height=640))
    try:
        m = aigif.GenerationMeta(model="acme/model", generator="acme_gen", prompt="p")
        assert (m.steps, m.width) == (12, 640)
        data = aigif.dumps(m)
        assert aigif.loads(data).meta == m
        with pytest.raises(RegistryError, match="already registered"):
            aigif.register_generator("acme_gen", code=1501, defaults=m.defaults)
        with pytest.raises(RegistryError, match="private range"):
            aigif.register_generator("acme_two", code=99, defaults=m.defaults)
        with pytest.raises(RegistryError, match="frozen"):
            aigif.register_generator("acme_three", code=1, defaults=m.defaults)
    finally:
        generators.unregister("acme_gen")
    # a reader without the extension refuses the file and says why
    with pytest.raises(aigif.UnknownCriticalElementError, match="generator code 1500"):
        aigif.loads(data)


def test_private_scheduler():
    aigif.register_scheduler("acme_sampler", 1030)
    m = aigif.GenerationMeta(model="sd15", scheduler="acme_sampler")
    assert aigif.loads(aigif.dumps(m)).meta.scheduler == "acme_sampler"
    with pytest.raises(aigif.RegistryError, match="private range"):
        aigif.register_scheduler("acme_bad", 12)
    with pytest.raises(aigif.RegistryError, match="already used"):
        aigif.register_scheduler("acme_other", 1030)


def test_registry_bad_keys_and_lazy_refs():
    r = Registry("thing")
    with pytest.raises(RegistryError, match="lowercase"):
        r.register("Bad Key", object())
    r.register("json-dumps", "json:dumps")
    import json
    assert r.get("json-dumps") is json.dumps
    r.register("broken", "no_such_module_xyz:thing")
    with pytest.raises(RegistryError, match="could not be loaded"):
        r.get("broken")
    with pytest.raises(RegistryError, match="no thing named 'zzz'"):
        r.get("zzz")


def test_third_party_scheduler_is_one_registration():
    """One ``register_scheduler`` call: the code for files, the diffusers class for rendering,
    and other tools' names for import/export."""
    from aigif.interop import samplers as names
    from aigif.render import schedulers as rs
    aigif.register_scheduler("acme_euler", 1031, diffusers_class="EulerDiscreteScheduler",
                             options={"use_karras_sigmas": True},
                             names={"a1111": "Acme Euler", "comfyui": "acme_euler_k"})
    m = aigif.GenerationMeta(model="sd15", scheduler="acme_euler")
    assert aigif.loads(aigif.dumps(m)).meta.scheduler == "acme_euler"
    assert names.from_a1111_label("acme  euler") == "acme_euler"
    assert names.to_a1111_label("acme_euler") == "Acme Euler"
    assert names.from_comfyui("acme_euler_k") == "acme_euler"
    assert names.to_comfyui("acme_euler") == ("acme_euler_k", "normal")
    spec = rs.spec_for("acme_euler")
    assert (spec.cls, dict(spec.options)) == ("EulerDiscreteScheduler",
                                               {"use_karras_sigmas": True})
    assert rs.scheduler_key_for({"_class_name": "EulerDiscreteScheduler",
                                 "use_karras_sigmas": True}) == "euler_karras"  # built-in wins
    assert rs.spec_for("acme_sampler_without_class") is None


def test_third_party_interop_dialect_reads_and_writes():
    """A dialect registered with aigif.interop.register_dialect is asked in its order and
    exports through interop.export."""
    import io as _io
    import json

    PIL = pytest.importorskip("PIL.Image")
    from aigif import interop
    from aigif.interop import Dialect, register_dialect
    from aigif.interop._common import Draft

    def read_acme(c):
        t = c.get("acme")
        if t is None:
            return None
        d = Draft()
        j = json.loads(t.text)
        d.set("prompt", j["p"])
        d.set("seed", j["s"])
        return "acme", d, [t]

    def write_acme(meta):
        return [("acme", json.dumps({"p": meta.prompt, "s": meta.seed}))]

    register_dialect(Dialect("acme", read_acme, write_acme, order=50), override=True)
    png = _io.BytesIO()
    PIL.new("RGB", (8, 8)).save(png, "PNG")
    meta = aigif.GenerationMeta(model="sd15", prompt="a red fox", seed=42)
    out = interop.export(meta, "acme", image=png.getvalue())
    r = interop.read(out)
    assert r.tool == "acme" and (r.meta.prompt, r.meta.seed) == ("a red fox", 42)
    assert [d.key for d in interop.dialects.ordered()][:2] == ["acme", "invokeai"]
    interop.dialect_registry.unregister("acme")
    with pytest.raises(aigif.ImportMetadataError, match="unknown dialect"):
        interop.export(meta, "acme", image=png.getvalue())


def test_same_weights_registered_for_two_families_read_back_by_family():
    """An SD 1.5 UNet is also AnimateDiff's base: the same content hash registered under
    two families must not make the other family's files unreadable (full suite: the tiny
    SD pipeline and the tiny AnimateDiff base share their weights)."""
    import aigif
    from aigif.registry import ModelInfo, model_for_hash, register_local_model
    h = bytes(range(200, 216))
    register_local_model(ModelInfo("hash-twin-sd", "sd", path="/nowhere", content_hash=h))
    register_local_model(ModelInfo("hash-twin-ad", "animatediff", path="/nowhere",
                                   content_hash=h))
    assert model_for_hash(h).key == "hash-twin-sd"
    assert model_for_hash(h, "animatediff").key == "hash-twin-ad"
    assert model_for_hash(h, "wan") is None
    for name in ("hash-twin-sd", "hash-twin-ad"):
        m = aigif.GenerationMeta(model=name, prompt="a fox", seed=3)
        assert aigif.loads(aigif.dumps(m)).meta == m
    m = aigif.GenerationMeta(model="local:" + h.hex(), generator="animatediff", prompt="a fox")
    assert m.video is not None and aigif.loads(aigif.dumps(m)).meta.model == "hash-twin-ad"
