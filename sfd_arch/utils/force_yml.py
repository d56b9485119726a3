"""BasicSR's ``--force_yml key:key=value`` overrides, in one place.

Two readers need them: the check before BasicSR starts (``sfd_arch.options``), which must see what BasicSR will
run, and ``sfd-iqa export``, which reads the copy of the option file that BasicSR writes into the experiment folder.
That copy is the file as it was on disk: the overrides survive only in the command line BasicSR records at its top
(``# CMD:`` then ``# <the command>``), so export reads them back from there and applies them the same way.

Values follow BasicSR's rules with ``ast.literal_eval`` where BasicSR calls ``eval`` (``safe_yaml.yml_value``): a
recorded command line is read as data, and ``key=[__import__('os')...]`` is an error, not a command.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .safe_yaml import yml_value

CMD_MARK = '# CMD:'
ENTRY = re.compile(r'[\w.-]+(:[\w.-]+)*=')  # `key:key=`: where a --force_yml entry starts


def apply_force_yml(opt: dict[str, Any], entries: Sequence[str]) -> list[str]:
    """Apply ``key:key=value`` entries to ``opt`` in place as BasicSR's ``parse_options`` does (values by the rules of
    its ``_postprocess_yml_value``, without ``eval``: :func:`~sfd_arch.utils.safe_yaml.yml_value`); returns the dotted
    paths set. Like BasicSR, an entry may add a last key but not a
    missing block; unlike BasicSR (which raises a bare ``KeyError`` mid-start), that is an error naming the entry."""
    forced = []
    for entry in entries:
        keys, sep, value = entry.partition('=')
        if not sep:
            raise ValueError(f'--force_yml {entry}: expected key:key=value')
        keys = [k.strip() for k in keys.strip().split(':')]
        node = opt
        for depth, key in enumerate(keys[:-1]):
            if not isinstance(node, dict) or key not in node:
                raise KeyError(f'--force_yml {entry}: `{".".join(keys[:depth + 1])}` is not in the option file')
            node = node[key]
        if not isinstance(node, dict):
            raise KeyError(f'--force_yml {entry}: `{".".join(keys[:-1])}` is not a block of keys')
        try:
            node[keys[-1]] = yml_value(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:  # literal_eval's errors
            raise ValueError(f'--force_yml {entry}: the value is not a literal ({type(err).__name__}: {err}); a list '
                             "holds numbers, quoted strings and lists, e.g. key=['a', 'b']") from err
        forced.append('.'.join(keys))
    return forced


def force_yml_entries(tokens: Sequence[str]) -> list[str]:
    """The ``--force_yml`` entries of a command line split on white space. BasicSR records ``' '.join(sys.argv)``,
    so a value that held a space arrives in pieces: a piece without ``=`` belongs to the entry before it."""
    entries: list[str] = []
    inside = False
    for token in tokens:
        if token == '--force_yml':
            inside = True
        elif token.startswith('--'):
            inside = False
        elif inside:
            if ENTRY.match(token) or not entries:
                entries.append(token)
            else:
                entries[-1] += f' {token}'
    return entries


def recorded_overrides(text: str) -> list[str]:
    """The ``--force_yml`` entries of the command BasicSR recorded at the top of an option file it copied into an
    experiment folder; ``[]`` for an option file without that record."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:4]):
        if line.strip() == CMD_MARK and i + 1 < len(lines) and lines[i + 1].startswith('#'):
            return force_yml_entries(lines[i + 1][1:].split())
    return []
