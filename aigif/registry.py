"""Generic registries with lazy entry-point discovery, and the model/generator registries.

An entry has a stable lowercase key and, where it appears in files, a numeric code frozen
in ``aigif.spec``. Third parties register through entry-point groups (``aigif.generators``,
``aigif.extensions``, ``aigif.codecs``); discovery reads the names only and loads an entry
on first use. A file's bytes never choose code to import: codes are looked up here only.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from types import MappingProxyType
from importlib import import_module
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import RegistryError, UnknownModelError
from .spec import (CODEC_PRIVATE, ELEMENT_PRIVATE, GENERATOR_PRIVATE, GENERATORS, MODELS,
                   VIDEO_CODECS,
                   SCHEDULER_PRIVATE, WELL_KNOWN_BASE, PixelCodec, Scheduler)
from .spec.models import Defaults

T = TypeVar("T")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


def load_ref(ref: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    mod, _, attr = ref.partition(":")
    obj = import_module(mod)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Key -> entry (and optionally code -> key) with lazy entry-point discovery.

    ``check`` validates an entry when it registers (raise RegistryError). Entries may be
    given as ``"module:attr"`` strings; they load on first lookup.
    """

    def __init__(self, name: str, group: str | None = None,
                 check: Callable[[str, Any], None] | None = None):
        self.name = name
        self.group = group
        self._check = check
        self._entries: dict[str, Any] = {}
        self._codes: dict[int, str] = {}
        self._discovered = group is None
        self._lock = threading.RLock()

    def register(self, key: str, entry: Any, *, code: int | None = None,
                 override: bool = False) -> None:
        if not isinstance(key, str) or not _KEY.match(key):
            raise RegistryError(f"{self.name} key {key!r} is not a lowercase key "
                                f"(expected [a-z0-9][a-z0-9_.-]*, at most 64 characters)")
        with self._lock:
            if not override:
                if key in self._entries:
                    raise RegistryError(f"{self.name} {key!r} is already registered "
                                        f"(pass override=True to replace it)")
                if code is not None and code in self._codes and self._codes[code] != key:
                    raise RegistryError(f"{self.name} code {code} is already used by "
                                        f"{self._codes[code]!r}")
            if self._check is not None and not isinstance(entry, str):
                self._check(key, entry)
            if key in self._entries:   # override: the key's old code goes with it
                for c in [c for c, k in self._codes.items() if k == key]:
                    del self._codes[c]
            self._entries[key] = entry
            if code is not None:
                self._codes[code] = key

    def unregister(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
            for c, k in list(self._codes.items()):
                if k == key:
                    del self._codes[c]

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        from importlib.metadata import entry_points
        try:
            eps = entry_points(group=self.group)
        except Exception:  # pragma: no cover - broken environments
            return
        for ep in eps:
            if ep.name not in self._entries:
                # names only; the object loads on first use
                self._entries[ep.name] = ep.value

    def get(self, key: str) -> T:
        entry = self._entries.get(key)
        if entry is not None and not isinstance(entry, str):
            return entry
        with self._lock:
            self._discover()
            try:
                entry = self._entries[key]
            except KeyError:
                raise RegistryError(f"no {self.name} named {key!r}; known: "
                                    f"{', '.join(sorted(self._entries)) or 'none'}") from None
            if isinstance(entry, str):
                try:
                    loaded = load_ref(entry)
                except Exception as e:
                    raise RegistryError(f"{self.name} {key!r} could not be loaded from "
                                        f"{entry!r}: {e}") from e
                if self._check is not None:
                    self._check(key, loaded)
                self._entries[key] = entry = loaded
                code = getattr(loaded, "code", None)   # entry points declare codes here
                if isinstance(code, int) and code not in self._codes:
                    self._codes[code] = key
            return entry

    def key_for_code(self, code: int) -> str | None:
        k = self._codes.get(code)
        if k is not None:
            return k
        with self._lock:
            self._discover()
            k = self._codes.get(code)
            if k is None:
                # entry-point entries declare their code once loaded (entries registered
                # with a code are not loaded for this)
                coded = set(self._codes.values())
                for key, entry in list(self._entries.items()):
                    if isinstance(entry, str) and key not in coded:
                        try:
                            self.get(key)
                        except RegistryError:
                            continue
                k = self._codes.get(code)
            return k

    def codes(self) -> list[int]:
        """The codes registered so far (entry-point entries declare theirs once loaded)."""
        return sorted(self._codes)

    def __contains__(self, key: object) -> bool:
        if key in self._entries:
            return True
        with self._lock:
            self._discover()
            return key in self._entries

    def keys(self) -> list[str]:
        with self._lock:
            self._discover()
            return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


# --------------------------------------------------------------------------- generators
@dataclass(frozen=True)
class GeneratorInfo:
    """What the format needs to know of a generator family: its code and defaults.

    ``backend`` is a ``"module:attr"`` string (or object) that regeneration loads; the
    format layer never imports it.
    """

    key: str
    code: int
    defaults: Defaults
    backend: Any = None
    description: str = ""


def _check_generator(key: str, info: Any) -> None:
    if not isinstance(info, GeneratorInfo):
        raise RegistryError(f"generator {key!r}: expected a GeneratorInfo, got "
                            f"{type(info).__name__}")
    if info.key != key:
        raise RegistryError(f"generator key mismatch: {key!r} vs {info.key!r}")


generators: Registry[GeneratorInfo] = Registry("generator", "aigif.generators", _check_generator)
for _g in GENERATORS:
    generators.register(_g.key, GeneratorInfo(_g.key, _g.code, _g.defaults), code=_g.code)


def register_generator(key: str, *, code: int, defaults: Defaults | dict, backend: Any = None,
                       description: str = "", override: bool = False) -> GeneratorInfo:
    """Register a generator family (third parties use codes 1024..2047).

    ``defaults`` are frozen forever for that code: files omit values equal to them.
    Returns the GeneratorInfo. Raises RegistryError on a bad or duplicate entry.
    """
    if isinstance(defaults, dict):
        defaults = Defaults(**defaults)
    known = {g.code for g in GENERATORS}
    if code in known and key not in {g.key for g in GENERATORS}:
        raise RegistryError(f"generator code {code} is frozen for "
                            f"{next(g.key for g in GENERATORS if g.code == code)!r}")
    if code not in known and code not in GENERATOR_PRIVATE:
        raise RegistryError(f"generator code {code} is outside the private range "
                            f"{GENERATOR_PRIVATE.start}..{GENERATOR_PRIVATE.stop - 1}")
    info = GeneratorInfo(key, code, defaults, backend, description)
    generators.register(key, info, code=code, override=override)
    return info


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelInfo:
    """A model the library can name: well-known (code), or local (content hash)."""

    key: str
    generator: str
    code: int | None = None          # well-known code
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None          # local diffusers directory
    content_hash: bytes | None = None  # 16-byte weights hash of a local model
    defaults: Defaults | None = None


models: Registry[ModelInfo] = Registry("model")
#: content hash -> the keys registered with those weights, in registration order (the same
#: weights may be registered for two families, e.g. an SD 1.5 UNet used by AnimateDiff)
_models_by_hash: dict[bytes, list[str]] = {}
for _m in MODELS:
    models.register(_m.key, ModelInfo(_m.key, _m.generator, _m.code, _m.hub_id, _m.revision,
                                       defaults=_m.defaults), code=_m.code)


def model_defaults(info: ModelInfo) -> Defaults:
    """The frozen defaults that apply to a model (its own, else its generator's)."""
    if info.defaults is not None:
        return info.defaults
    return generators.get(info.generator).defaults


def register_local_model(info: ModelInfo, *, override: bool = False) -> None:
    if info.content_hash is None or len(info.content_hash) != 16:
        raise RegistryError("a local model needs a 16-byte content hash")
    if info.code is not None and info.code >= WELL_KNOWN_BASE:
        raise RegistryError("local models have no well-known code")
    models.register(info.key, info, override=override)
    keys = _models_by_hash.setdefault(info.content_hash, [])
    if info.key in keys:
        keys.remove(info.key)
    keys.insert(0 if override else len(keys), info.key)


def model_for_hash(h: bytes, generator: str | None = None) -> ModelInfo | None:
    """The model registered with content hash ``h`` (the first one registered, or with
    ``generator`` the first of that family; None when there is none)."""
    for key in _models_by_hash.get(h, ()):
        if key in models:
            info = models.get(key)
            if info.content_hash == h and (generator is None or info.generator == generator):
                return info
    return None


def lookup_model(key: str) -> ModelInfo:
    """Return the ModelInfo of a model key; raise UnknownModelError with the known keys."""
    if key in models:
        return models.get(key)
    raise UnknownModelError(
        f"unknown model {key!r}: expected a well-known key ({', '.join(m.key for m in MODELS)}),"
        f" a name given to aigif.register_model(), 'local:<32 hex digits>', or a hub id "
        f"'owner/name' with generator=")


# --------------------------------------------------------------------------- schedulers
@dataclass(frozen=True)
class SchedulerInfo:
    """One sampling method: its lowercase key and frozen code, and (for third parties)
    everything the upper layers need, so that one ``register_scheduler`` call is enough.

    The built-in schedulers (``spec.Scheduler``) carry only key and code here: their
    diffusers classes live in ``aigif.render.schedulers`` and other tools' names for them in
    ``aigif.interop.samplers``. A third-party entry carries its own:

    - ``diffusers_class`` / ``options``: the diffusers scheduler class name and the init
      options that make it this sampler (read by the render layer; ``flow`` for
      flow-matching models, ``approximate`` when no exact equivalent exists, ``needs`` an
      extra pip package);
    - ``names``: what other tools call it, by dialect (``{"a1111": "My Sampler",
      "comfyui": "my_sampler"}``; read by the interop layer).
    """

    key: str
    code: int
    diffusers_class: str | None = None
    options: Any = None
    flow: bool = False
    approximate: bool = False
    needs: str | None = None
    names: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options or {})))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names or {})))


def _check_scheduler(key: str, info: Any) -> None:
    if not isinstance(info, SchedulerInfo):
        raise RegistryError(f"scheduler {key!r}: expected a SchedulerInfo, got "
                            f"{type(info).__name__}")
    if info.key != key:
        raise RegistryError(f"scheduler key mismatch: {key!r} vs {info.key!r}")


schedulers: Registry[SchedulerInfo] = Registry("scheduler", "aigif.schedulers", _check_scheduler)
for _s in Scheduler:
    schedulers.register(_s.name.lower(), SchedulerInfo(_s.name.lower(), int(_s)), code=int(_s))
#: The spec's own scheduler keys, in code order.
BUILTIN_SCHEDULERS: tuple[str, ...] = tuple(_s.name.lower() for _s in Scheduler)


def register_scheduler(key: str, code: int, *, diffusers_class: str | None = None,
                       options: dict | None = None, flow: bool = False,
                       approximate: bool = False, needs: str | None = None,
                       names: dict | None = None, override: bool = False) -> SchedulerInfo:
    """Register a third-party scheduler: key, a code in the private range 1024..2047, and
    optionally its diffusers class and options (to render it) and other tools' names for it
    (to import and export it). One call serves every layer.

    >>> register_scheduler("acme_sampler", 1030, diffusers_class="EulerDiscreteScheduler",
    ...                    names={"a1111": "Acme"})            # doctest: +SKIP

    Returns the SchedulerInfo. Raises RegistryError for a code outside the private range,
    a key or code already in use, or a malformed key.
    """
    if code not in SCHEDULER_PRIVATE:
        raise RegistryError(f"scheduler code {code} is outside the private range "
                            f"{SCHEDULER_PRIVATE.start}..{SCHEDULER_PRIVATE.stop - 1}")
    if key in BUILTIN_SCHEDULERS:
        raise RegistryError(f"scheduler {key!r} is a built-in scheduler (code "
                            f"{int(Scheduler[key.upper()])})")
    info = SchedulerInfo(key, code, diffusers_class, options, flow, approximate, needs, names)
    schedulers.register(key, info, code=code, override=override)
    return info


# --------------------------------------------------------------------------- pixel codecs
def _check_codec(key: str, entry: Any) -> None:
    for attr in ("key", "code", "encode", "decode"):
        if not hasattr(entry, attr):
            raise RegistryError(f"codec {key!r}: expected an aigif.codecs.Codec subclass or "
                                f"instance, got {type(entry).__name__} (no {attr!r})")
    if entry.key != key:
        raise RegistryError(f"codec key mismatch: registered as {key!r}, declares {entry.key!r}")
    frozen = {c.name.lower().replace("_", "-"): int(c) for c in PixelCodec}
    if key in frozen:
        if entry.code != frozen[key]:
            raise RegistryError(f"codec {key!r} has the frozen code {frozen[key]}, "
                                f"not {entry.code}")
    elif entry.code not in CODEC_PRIVATE:
        raise RegistryError(f"codec {key!r}: code {entry.code} is outside the private range "
                            f"{CODEC_PRIVATE.start}..{CODEC_PRIVATE.stop - 1}")


#: Pixel codecs: key -> ``aigif.codecs.Codec`` (class, instance or "module:attr"), with the
#: frozen codes of ``spec.PixelCodec``; entry-point group ``aigif.codecs``. The implementations
#: register in ``aigif.codecs``; the format layer only maps keys and codes.
codecs: Registry[Any] = Registry("codec", "aigif.codecs", _check_codec)


def codec_code(key: str) -> int | None:
    """The numeric code of codec ``key`` (built-in or registered), or None."""
    # a built-in key's enum name: upper case, "-" spelled "_" (omni-icm: OMNI_ICM)
    name = key.upper().replace("-", "_") if isinstance(key, str) else None
    if name is not None and "_" not in key and name in PixelCodec.__members__:
        return int(PixelCodec[name])
    if key not in codecs:
        return None
    try:
        return codecs.get(key).code
    except RegistryError:
        return None


def codec_kind(key: str) -> str | None:
    """``"video"`` or ``"image"``: what a payload of codec ``key`` holds (built-in codes by
    ``spec.VIDEO_CODECS``, a registered codec by its ``kind``); None for an unknown key."""
    name = key.upper().replace("-", "_") if isinstance(key, str) else None
    if name is not None and "_" not in key and name in PixelCodec.__members__:
        return "video" if PixelCodec[name] in VIDEO_CODECS else "image"
    if key not in codecs:
        return None
    try:
        return getattr(codecs.get(key), "kind", "image")
    except RegistryError:
        return None


def codec_key(code: int) -> str | None:
    """The key of the codec with numeric ``code`` (built-in or registered), or None."""
    if code in PixelCodec._value2member_map_:
        return PixelCodec(code).name.lower().replace("_", "-")
    return codecs.key_for_code(code)


# --------------------------------------------------------------------------- extensions
@dataclass(frozen=True)
class ExtensionInfo:
    """A third-party extension element: its key (``GenerationMeta.extensions[key]``), its
    element id (private range 4096..8191), whether a reader that lacks it must refuse the
    file, and the construct schema of its body."""

    key: str
    code: int
    critical: bool
    schema: Any


def _check_extension(key: str, info: Any) -> None:
    if not isinstance(info, ExtensionInfo):
        raise RegistryError(f"extension {key!r}: expected an ExtensionInfo, got "
                            f"{type(info).__name__}")
    if info.code not in ELEMENT_PRIVATE:
        raise RegistryError(f"extension code {info.code} is outside the private range "
                            f"{ELEMENT_PRIVATE.start}..{ELEMENT_PRIVATE.stop - 1}")
    if not hasattr(info.schema, "build") or not hasattr(info.schema, "parse"):
        raise RegistryError("schema must be a construct construct (build/parse)")


#: Extension elements: key -> ExtensionInfo; entry-point group ``aigif.extensions``.
extensions: Registry[ExtensionInfo] = Registry("extension", "aigif.extensions", _check_extension)


def register_extension(key: str, code: int, schema: Any, *, critical: bool = False,
                       override: bool = False) -> ExtensionInfo:
    """Register a third-party extension element.

    ``code`` is an element id in the private range 4096..8191; ``schema`` is a construct
    construct (``schema.build(value)`` / ``schema.parse(data)``) describing the body.
    Values live in ``GenerationMeta.extensions[key]``. ``critical=True`` means a reader
    that does not know the element must refuse the file. Raises RegistryError.

    Example::

        from construct import Struct, Int8ub
        aigif.register_extension("acme.style", 4096, Struct("level" / Int8ub))
    """
    info = ExtensionInfo(key, code, bool(critical), schema)
    extensions.register(key, info, code=code, override=override)
    return info


def unregister_extension(key: str) -> None:
    """Forget extension ``key`` (no error when it is not registered)."""
    extensions.unregister(key)
