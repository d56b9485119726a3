"""Every key of an option file is one that some code reads, or an error naming it, where it is and the closest key.

The tables are in ``schema.py``; each level is checked by a pydantic model built from its table with
``extra='forbid'`` (pydantic: well kept, precise error locations, type coercion as lax as YAML needs). Keys the
user's own code reads are declared in a top-level ``extra_keys:`` list of dotted paths
(docs/training.md "Option keys").
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable, Optional

from pydantic import ConfigDict, Field, ValidationError, create_model

from .values import ARGUMENTS, Expect, from_default

_MODELS: dict[tuple, Any] = {}
EXTRA_KEYS_HINT = ('declare a key your own code reads in the top-level `extra_keys:` list '
                   '(docs/training.md "Option keys")')


class OptionKeyError(KeyError, ValueError):
    """One or more option keys that nothing reads, or values of the wrong kind; one line per key.

    A ``KeyError`` (a key is wrong) and a ``ValueError`` (the file is wrong), printed without KeyError's quotes.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _pydantic_model(fields: dict[str, Any], extras_ok: bool) -> Any:
    """A pydantic model whose fields are ``fields`` (key -> annotation); keys are aliases, so any spelling works."""
    cache_key = (tuple(sorted((k, repr(v)) for k, v in fields.items())), extras_ok)
    if cache_key not in _MODELS:
        config = ConfigDict(extra='allow' if extras_ok else 'forbid', protected_namespaces=(),
                            arbitrary_types_allowed=True)
        # an Expect (values.py) decides about null itself; every other annotation lets null through
        definitions = {f'f{i}': (annotation if _is_expect(annotation) else Optional[annotation],
                                 Field(None, alias=key))
                       for i, (key, annotation) in enumerate(sorted(fields.items()))}
        _MODELS[cache_key] = create_model('OptionBlock', __config__=config, **definitions)
    return _MODELS[cache_key]


def _is_expect(annotation: Any) -> bool:
    return any(isinstance(getattr(m, 'func', None), Expect) for m in getattr(annotation, '__metadata__', ()))


def closest(key: str, known: Iterable[str]) -> Optional[str]:
    """The known key nearest to ``key`` (difflib ratio >= 0.6), or None."""
    match = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_key_line(where: str, key: str, known: Iterable[str], owner: str = '') -> str:
    """``train.tgd_optt: unknown key (did you mean `tgd_opt`?)``: the line each unknown key gets."""
    dotted = f'{where}.{key}' if where else str(key)
    near = closest(key, known)
    hint = f' (did you mean `{near}`?)' if near else f' (known: {", ".join(sorted(known))})'
    return f'{dotted}: unknown key{f" of {owner}" if owner else ""}{hint}'


class KeyChecker:
    """Walks an option file level by level and collects one line per unknown key."""

    def __init__(self, declared: Iterable[str] = (), forced: Iterable[str] = ()):
        self.declared = {str(k) for k in declared}
        self.forced = {str(k) for k in forced}
        self.problems: list[str] = []

    def block(self, data: Any, fields: dict[str, Any], where: str, owner: str = '', extras_ok: bool = False) -> dict:
        """Check one mapping against ``fields``; returns it (``{}`` when it is not a mapping: reported)."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problems.append(f'{where}: must be a mapping of keys, got {data!r}')
            return {}
        given = {str(k): v for k, v in data.items() if self._path(where, k) not in self.declared}
        try:
            _pydantic_model(fields, extras_ok).model_validate(given)
        except ValidationError as err:
            for error in err.errors():
                key = str(error['loc'][0]) if error['loc'] else ''
                if error['type'] == 'extra_forbidden':
                    line = unknown_key_line(where, key, fields, owner)
                elif error['type'] == 'option_value':  # values.Expect: the whole line, value and hint included
                    line = f'{self._path(where, key)}: {error["msg"]}'
                else:
                    line = f'{self._path(where, key)}: {error["msg"].lower()}, got {error.get("input")!r}'
                if self._path(where, key) in self.forced:
                    line += ' (set by --force_yml)'
                self.problems.append(line)
        return data

    @staticmethod
    def _path(where: str, key: Any) -> str:
        return f'{where}.{key}' if where else str(key)

    def constructor(self, data: Any, where: str, func: Optional[Callable], owner: str,
                    skip: Iterable[str] = (), extra: Iterable[str] = ('type',), closed: bool = False) -> None:
        """A block whose keys are ``func``'s arguments (a network, loss, optimiser, scheduler, metric).

        A ``**kwargs`` constructor takes any key, so its block is open, unless ``closed`` (metrics: BasicSR
        passes every key of the block and a metric's ``**kwargs`` swallows the typos).
        """
        if func is None or not isinstance(data, dict):
            return
        fields, open_ended = signature_keys(func, skip)
        fields.update({key: Any for key in extra})
        self.block(data, fields, where, owner, extras_ok=open_ended and not closed)


def signature_keys(func: Callable, skip: Iterable[str] = ()) -> tuple[dict[str, Any], bool]:
    """``({argument: annotation}, takes **kwargs)`` of a function or class constructor, ``skip`` left out.

    An argument's annotation is its expectation in ``values.ARGUMENTS`` by name, else the kind of its default
    (``values.from_default``), else ``Any``.
    """
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return {}, True
    skip = set(skip) | {'self'}
    fields = {p.name: _argument_annotation(p) for p in params if p.name not in skip
              and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return fields, open_ended


def _argument_annotation(param: inspect.Parameter) -> Any:
    expect = ARGUMENTS.get(param.name)
    if expect is None and param.default is not inspect.Parameter.empty:
        expect = from_default(param.default)
    return expect.annotation if expect is not None else Any


def registered(registry: Any, name: Any) -> Optional[Any]:
    """``registry``'s object called ``name`` (BasicSR also registers some with a ``_basicsr`` suffix), quietly."""
    if not isinstance(name, str):
        return None
    # `in` first: BasicSR's own lookup completes a pending registration of the SFD names (sfd_arch.registration)
    for key in (name, f'{name}_basicsr'):
        if key in registry:
            return registry._obj_map[key]
    return None
