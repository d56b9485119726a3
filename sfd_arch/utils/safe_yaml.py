"""Option files read as data: a safe YAML loader with BasicSR's ordered mappings, and ``--force_yml`` values
parsed without ``eval``.

BasicSR's ``ordered_yaml()`` returns PyYAML's full ``Loader``, which honours Python tags: a line
``extra_keys: !!python/object/apply:os.system ["..."]`` runs a command while the file is read. This loader is
PyYAML's safe loader (the C one where present) with the same resolvers, so every plain value reads as BasicSR reads
it (``!!float 1e-4`` a float, ``1e-4`` a string, ``yes`` a bool), and mappings are ``OrderedDict`` as in BasicSR.
Before anything is constructed, the whole node tree is checked: a tag the safe loader does not know (every
``!!python/...`` tag, any custom ``!tag``) is an error naming the file, the line and the tag, and a key written twice
in one mapping is an error naming both lines (YAML keeps the second silently, so a forgotten override would win).

``sfd_arch.utils.basicsr_safety`` puts this loader behind BasicSR's own ``ordered_yaml()`` and :func:`yml_value`
behind its ``_postprocess_yml_value``, so ``basicsr/train.py`` and ``basicsr/test.py`` read option files this way too.
"""
from __future__ import annotations

import ast
import os
from collections import OrderedDict
from typing import Any, Union

import yaml

_BaseLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
_BaseDumper = getattr(yaml, 'CDumper', yaml.Dumper)
_YAML_TAG = 'tag:yaml.org,2002:'
_MERGE_TAG = _YAML_TAG + 'merge'


class OptionFileError(ValueError):
    """An option file that must not be read as it is; the message names the file (and line)."""


def _short_tag(tag: str) -> str:
    return '!!' + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


def _file(node: yaml.Node) -> str:
    name = node.start_mark.name
    return name if name and not name.startswith('<') else 'option text'  # '<unicode string>' for text


class SafeOrderedLoader(_BaseLoader):
    """PyYAML's safe loader, mappings as ``OrderedDict``; refuses unknown tags and repeated keys before building."""

    source = None  # the name errors give the text; default: the stream's name (a file's path)

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_tree(node, self.yaml_constructors, self.source or _file(node))
        return self.construct_document(node)


def _construct_ordered_mapping(loader: SafeOrderedLoader, node: yaml.MappingNode) -> OrderedDict:
    loader.flatten_mapping(node)  # `<<: *anchor` merges, as the safe loader's plain mappings do
    return OrderedDict(loader.construct_pairs(node))


SafeOrderedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_ordered_mapping)


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else '<complex key>'


def _check_tree(root: yaml.Node, constructors: dict, source: str) -> None:
    """Every tag known to the safe constructor, no key twice in a mapping; anchors and aliases visited once."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, '')]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in constructors or node.tag is None:
            raise OptionFileError(
                f'{source}, line {node.start_mark.line + 1}: the tag {_short_tag(node.tag)} is not allowed: it would '
                'build a Python object or run code while the file is read; an option file holds data only (numbers, '
                'strings, lists, mappings)')
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f'{path}[{i}]') for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[tuple, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    stack.append((value_node, path))
                    continue
                name = _key_text(key_node)
                dotted = f'{path}.{name}' if path else name
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in first_line:
                        raise OptionFileError(
                            f'{source}: {dotted} is written twice (lines '
                            f'{first_line[key]} and {key_node.start_mark.line + 1}); keep one of them')
                    first_line[key] = key_node.start_mark.line + 1
                stack.append((key_node, dotted))
                stack.append((value_node, dotted))


def load_yaml(stream: Union[str, bytes], source: str = 'option text') -> Any:
    """Parse YAML text with :class:`SafeOrderedLoader`; a syntax error becomes an :class:`OptionFileError`."""
    loader = SafeOrderedLoader(stream)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise OptionFileError(f'{source} is not valid YAML: {err}') from err
    finally:
        loader.dispose()


def load_option_file(path: str) -> dict[str, Any]:
    """The options of a YAML file, read safely; errors name the file (``OptionFileError``, a ``ValueError``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'option file not found: {path}')
    with open(path, encoding='utf-8') as f:
        opt = load_yaml(f, path)
    if not isinstance(opt, dict):
        raise OptionFileError(f'{path} does not hold a mapping of options')
    return opt


class OrderedDumper(_BaseDumper):
    """BasicSR's dumper: writes ``OrderedDict`` as a plain mapping, in its order."""


OrderedDumper.add_representer(OrderedDict, lambda dumper, data: dumper.represent_dict(data.items()))


def ordered_yaml() -> tuple[type, type]:
    """What BasicSR's ``basicsr.utils.options.ordered_yaml`` returns, with the safe loader: ``(Loader, Dumper)``."""
    return SafeOrderedLoader, OrderedDumper


def yml_value(value: str) -> Any:
    """A ``--force_yml`` value read by the rules of BasicSR's ``_postprocess_yml_value`` (1.4.2), with
    ``ast.literal_eval`` where BasicSR calls ``eval``: a list value is a Python literal, never code.

    ``~`` / ``none`` -> None; ``true`` / ``false`` (any case) -> bool; ``!!float x`` -> float; digits -> int;
    ``1.5`` -> float; ``[...]`` -> the literal; anything else (``1e-4``, ``yes``) stays a string, as in BasicSR.
    """
    lowered = value.lower()
    if value == '~' or lowered == 'none':
        return None
    if lowered in ('true', 'false'):
        return lowered == 'true'
    if value.startswith('!!float'):
        return float(value.replace('!!float', ''))
    if value.isdigit():
        return int(value)
    if value.count('.') < 2 and value.replace('.', '', 1).isdigit():
        return float(value)
    if value.startswith('['):
        return ast.literal_eval(value)
    return value
