"""Every public class, function and method has a docstring: the API reference (docs/api/) is
built from them, so a name without one would be an empty entry there."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

# defiperf itself (its __all__), each subpackage, and the public modules the docs point to.
MODULES = ["defiperf", "defiperf.structures", "defiperf.cache", "defiperf.batch",
           "defiperf.monitor", "defiperf.simulate", "defiperf.bench", "defiperf.profiles",
           "defiperf.suite"]


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or else the public names defined in the module itself."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, obj in vars(module).items() if not n.startswith("_")
            and getattr(obj, "__module__", None) == module.__name__]


def _text(doc: str | None, owner: Any, name: str) -> str:
    """The docstring without what tools generate: Cython's embedded signature line
    (``name(args) -> ret``) and a dataclass's or named tuple's ``Name(field, ...)``."""
    doc = (doc or "").strip()
    first, _, rest = doc.partition("\n")
    if re.fullmatch(rf"{re.escape(name)}\(.*\)(\s*->.*)?", first.strip()):
        doc = rest.strip()
    if inspect.isclass(owner) and (dataclasses.is_dataclass(owner) or hasattr(owner, "_fields")):
        try:
            if doc == f"{owner.__name__}{inspect.signature(owner)}".replace(" -> None", ""):
                return ""
        except (TypeError, ValueError):
            pass
    return doc


def _routines(cls: type) -> Iterator[tuple[str, Any]]:
    """Public callables and properties of ``cls``, its own and those it inherits from defiperf's
    classes (a mixin's methods are part of the class's API; builtins' and typing's are not)."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is not cls and not klass.__module__.startswith("defiperf"):
            continue
        for name, attr in _own_routines(klass):
            if name not in seen:
                seen.add(name)
                yield name, attr


def _own_routines(cls: type) -> Iterator[tuple[str, Any]]:
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if isinstance(cls, enum.EnumMeta) and isinstance(getattr(cls, name, None), cls):
            continue  # an enum member, not a method
        if isinstance(attr, property) or inspect.isroutine(attr):
            yield name, attr


def undocumented() -> list[str]:
    missing: list[str] = []
    seen: set[int] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue  # constants (DEFAULT_CACHE_CONFIG, KINDS, ...) are described where used
            seen.add(id(obj))
            qualname = f"{module_name}.{name}"
            doc = getattr(obj, "__doc__", None)
            if not _text(doc, obj, getattr(obj, "__name__", name)):
                missing.append(qualname)
            if inspect.isclass(obj):
                for member, attr in _routines(obj):
                    member_doc = attr.__doc__ if not isinstance(attr, property) else (
                        attr.__doc__ or (attr.fget.__doc__ if attr.fget else None))
                    if not _text(member_doc, attr, member) and not _inherited_doc(obj, member):
                        missing.append(f"{qualname}.{member}")
    return missing


def _inherited_doc(cls: type, name: str) -> bool:
    """An override of a documented base-class method (or protocol method) keeps its meaning."""
    for base in cls.__mro__[1:]:
        attr = base.__dict__.get(name)
        if attr is not None and _text(getattr(attr, "__doc__", None), attr, name):
            return True
    return False


def test_every_public_class_function_and_method_has_a_docstring() -> None:
    missing = undocumented()
    assert not missing, "no docstring: " + ", ".join(missing)


def test_the_walk_sees_the_public_api() -> None:
    """The check above is not vacuous: it visits the main types and their methods, and it
    catches a method without a docstring."""
    import defiperf

    names = set(public_names(defiperf))
    assert {"OptimizedLRU", "SmartCacheManager", "PerformanceMonitor", "PerformanceSuite"} <= names
    routines = dict(_routines(defiperf.PerformanceMonitor))
    assert "add_alert_rule" in routines and "record_metric" in routines
    assert "get" in dict(_routines(defiperf.OptimizedLRU))

    class Bare:
        def method(self) -> None:
            pass

    assert not _text(Bare.method.__doc__, Bare.method, "method")
    assert [name for name, _ in _routines(Bare)] == ["method"]


@pytest.mark.parametrize("name", ["OptimizedLRU", "BloomFilter", "RingBuffer"])
def test_compiled_docstrings_are_more_than_the_embedded_signature(name: str) -> None:
    import defiperf

    cls = getattr(defiperf, name)
    documented = [m for m, attr in _routines(cls) if _text(attr.__doc__, attr, m)]
    assert len(documented) >= 5, documented
