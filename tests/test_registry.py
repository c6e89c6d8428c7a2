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
    with pytest.raises(aigif.MetaError):
        aigif.register_scheduler("acme_bad", 12)


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
