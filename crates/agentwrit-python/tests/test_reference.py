"""docs/python.md cannot drift from the package: every public name of
every public module — what its ``__all__`` exports, and any other public
class, function or constant the package defines there — and every public
member of those classes is named in the reference, in code (a code span or
an example), so adding one without documenting it fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import agentwrit_rs

DOC = Path(__file__).parents[3] / "docs" / "python.md"


def code_words(markdown: str) -> set[str]:
    """The identifiers in the fenced blocks and code spans of ``markdown``."""
    fences = re.compile(r"^```[^\n]*\n.*?^```", re.S | re.M)
    code = fences.findall(markdown)
    code += re.findall(r"`([^`]+)`", fences.sub("", markdown))  # a span may wrap a line
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(code)))


DOCUMENTED = code_words(DOC.read_text(encoding="utf-8"))


def public_modules() -> Iterator[ModuleType]:
    yield agentwrit_rs
    for info in pkgutil.iter_modules(agentwrit_rs.__path__):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"agentwrit_rs.{info.name}")


MODULES = list(public_modules())


def ours(value: object) -> bool:
    """Whether ``value`` is a class or function of this package (not one
    it imported from elsewhere)."""
    return str(getattr(value, "__module__", "")).split(".")[0] == "agentwrit_rs"


def defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions ``module`` itself defines (not
    those it imports, from this package or another)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }


def public_names(module: ModuleType) -> set[str]:
    """What ``module`` exports (``__all__``, constants and aliases
    included) and every public class and function it defines."""
    return set(getattr(module, "__all__", ())) | defined_here(module)


def members(cls: type) -> set[str]:
    """The public members the package gives ``cls`` (methods, properties,
    class attributes, dataclass fields, a native class's getters): not
    those of a class of another package it derives from, nor its
    overrides of them (that package documents those: pydantic's
    ``model_config``, an exception's ``args``)."""
    foreign = [k for k in cls.__mro__ if not ours(k)]
    own: set[str] = set()
    for klass in cls.__mro__:
        if ours(klass):
            own |= {n for n in vars(klass) if not n.startswith("_")}
            own |= {n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")}
    return {n for n in own if not any(hasattr(k, n) for k in foreign)}


def classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in MODULES:
        for name in public_names(module):
            value = getattr(module, name)
            if inspect.isclass(value) and ours(value):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_the_reference_is_read() -> None:
    assert {"AgentWritApp", "create_agent", "require_scope", "DevBroker"} <= DOCUMENTED
    assert "not_a_name_of_the_package" not in DOCUMENTED


def test_every_public_module_declares_what_it_exports() -> None:
    for module in MODULES:
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{module.__name__} has no __all__"
        defined = defined_here(module) - set(exported)
        assert not defined, f"{module.__name__} defines public names missing from __all__: {sorted(defined)}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_is_in_the_reference(module: ModuleType) -> None:
    missing = sorted(n for n in public_names(module) if n not in DOCUMENTED)
    assert not missing, f"docs/python.md does not name {module.__name__}: {missing}"


@pytest.mark.parametrize("name", sorted(classes()))
def test_every_public_member_is_in_the_reference(name: str) -> None:
    missing = sorted(m for m in members(classes()[name]) if m not in DOCUMENTED)
    assert not missing, f"docs/python.md does not name these members of {name}: {missing}"
