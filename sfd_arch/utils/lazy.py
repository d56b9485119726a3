"""Public names of a package imported from their modules when first used (PEP 562), so that importing the
package, or a light module inside it, does not import torch, BasicSR or open_clip (docs/design.md §2)."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_names(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each public name to the module (absolute,
    or relative to ``package``) that defines it. A name is imported on first access and then kept in the
    package's namespace, so ``from package import Name`` and ``package.Name`` work as with eager imports. Any
    other name is tried as a submodule (``package.sub``), which eager imports used to leave as an attribute."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            if not name.startswith('__'):
                try:
                    return importlib.import_module(f'{package}.{name}')
                except ModuleNotFoundError as err:
                    if err.name != f'{package}.{name}':
                        raise
            raise AttributeError(f'module {package!r} has no attribute {name!r}')
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
