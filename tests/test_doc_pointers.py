"""Every place the project sends a reader exists.

Code, option files and pages point readers at a named section of a page (the README or a page under docs/, by its
heading in double quotes after the file name); each such name must be a heading of that file, so a section that
moves or is renamed takes its pointers along. Every relative markdown link of the README and docs/ must reach an
existing file and, after ``#``, a heading of it (GitHub's anchor of the heading). The README stays one short page.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]

# a page, then optionally "'s" and a comma, then the section's name in double quotes (also inside parentheses)
POINTER = re.compile(r'''\b(README(?:\.md)?|docs/[\w.-]+?\.md)(?:'s)?,?\s+\(?"([^"\n]+)"''')
ANCHOR_POINTER = re.compile(r'\b(README\.md|docs/[\w.-]+?\.md)#([\w-]+)')
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.S | re.M)
NUMBER = re.compile(r'^\d+(\.\d+)*\.?\s+')  # "6.5 Protocols", "1. The method": the number is not the name


def scanned_files() -> list[Path]:
    """The files whose pointers are checked: code, scripts, tests, option files, the Makefile and the pages."""
    files = [*(REPO / 'sfd_arch').rglob('*.py'), *(REPO / 'scripts').rglob('*.py'), *(REPO / 'tests').rglob('*.py'),
             *(REPO / 'options').rglob('*.yml'), REPO / '_sfd_arch_hook.py', REPO / 'setup.py', REPO / 'Makefile',
             *PAGES]
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def _norm(name: str) -> str:
    return NUMBER.sub('', name.replace('`', '').strip().rstrip('.')).strip().lower()


def headings(page: Path) -> list[str]:
    """The headings of a markdown page (outside code blocks), as written."""
    text = FENCE.sub('', page.read_text(encoding='utf-8'))
    return [m.group(1).strip() for m in re.finditer(r'^#{1,6}\s+(.+?)\s*#*$', text, re.M)]


def section_names(page: Path) -> set[str]:
    """The names a pointer may use for a section of ``page``: each heading without its number, and its part before
    a colon or a parenthesis ("Evaluation protocols" for "Evaluation protocols: numbers beside published tables"),
    and the bold lead of a paragraph or list item that opens a named part without a heading ("**Batches** (...)")."""
    names = set()
    for heading in headings(page):
        for part in (heading, heading.split(':')[0], heading.split(' (')[0]):
            names.add(_norm(part))
    text = FENCE.sub('', page.read_text(encoding='utf-8'))
    for m in re.finditer(r'^\s*(?:[-*]\s+)?\*\*([^*\n]+?)\.?\*\*', text, re.M):
        names.add(_norm(m.group(1)))
    return names


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters, digits, _, - and spaces kept),
    spaces turned into hyphens."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub makes for ``page``, repeated headings included (``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(page):
        base = github_anchor(heading)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f'{base}-{n}')
        seen[base] = n + 1
    return out


def _page(name: str) -> Path:
    return REPO / ('README.md' if name.startswith('README') else name)


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def broken_pointers(files: list[Path]) -> list[str]:
    """One line per pointer whose page or section does not exist: ``file:line: page "name"``."""
    problems = []
    for path in files:
        text = path.read_text(encoding='utf-8')
        for m in POINTER.finditer(text):
            page, name = _page(m.group(1)), m.group(2)
            if not page.is_file() or _norm(name) not in section_names(page):
                line = text.count('\n', 0, m.start()) + 1
                problems.append(f'{_shown(path)}:{line}: {m.group(1)} "{name}"')
        for m in ANCHOR_POINTER.finditer(text):
            page, anchor = _page(m.group(1)), m.group(2)
            if not page.is_file() or anchor not in anchors(page):
                line = text.count('\n', 0, m.start()) + 1
                problems.append(f'{_shown(path)}:{line}: {m.group(1)}#{anchor}')
    return problems


def broken_links(pages: list[Path]) -> list[str]:
    """One line per relative link of a page whose file, or heading after ``#``, does not exist."""
    problems = []
    for page in pages:
        text = FENCE.sub('', page.read_text(encoding='utf-8'))
        for m in LINK.finditer(text):
            target = m.group(1)
            if re.match(r'^[a-z]+:', target):  # https:, mailto: ...
                continue
            file_part, _, anchor = target.partition('#')
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                problems.append(f'{_shown(page)}: {target}: no such file')
            elif anchor and (dest.suffix != '.md' or anchor not in anchors(dest)):
                problems.append(f'{_shown(page)}: {target}: no such heading in {dest.name}')
    return problems


def test_every_pointer_to_a_section_names_a_heading_that_exists():
    files = scanned_files()
    found = sum(len(POINTER.findall(f.read_text(encoding='utf-8'))) for f in files)
    assert found >= 20  # the option files, error messages, docstrings and pages that send readers somewhere
    assert broken_pointers(files) == []


def test_every_relative_link_of_the_pages_reaches_a_file_and_heading():
    assert broken_links(PAGES) == []


def test_the_checks_catch_a_section_or_link_that_is_gone(tmp_path):
    # the checks themselves fail on what they look for: a renamed section, a missing page, a dead anchor or file
    code = tmp_path / 'code.py'
    code.write_text('# see docs/training.md "Option keys" and docs/training.md "Option knobs"\n'
                    '# docs/nowhere.md "Anything"; docs/iqa.md#6-evaluate-against-human-scores; docs/iqa.md#gone\n')
    problems = [p.split(': ', 1)[1] for p in broken_pointers([code])]
    assert problems == ['docs/training.md "Option knobs"', 'docs/nowhere.md "Anything"', 'docs/iqa.md#gone']
    iqa = os.path.relpath(REPO / 'docs' / 'iqa.md', tmp_path)
    page = tmp_path / 'probe.md'
    page.write_text(f'# Probe\n\n[ok]({iqa}#65-protocols) [a]({iqa}#no-such) [b](missing.md) [c](#probe) [d](#nope)\n')
    assert [p.split(': ', 1)[1] for p in broken_links([page])] == [
        f'{iqa}#no-such: no such heading in iqa.md', 'missing.md: no such file', '#nope: no such heading in probe.md']


def test_headings_without_their_number_and_github_anchors():
    iqa = REPO / 'docs' / 'iqa.md'
    assert {'protocols', 'tiles and batches', 'batches'} <= section_names(iqa)
    assert '65-protocols' in anchors(iqa) and '6-evaluate-against-human-scores' in anchors(iqa)
    assert github_anchor('Compare models in one command: `scripts/compare.py`') == \
        'compare-models-in-one-command-scriptscomparepy'


README_LINES = (REPO / 'README.md').read_text(encoding='utf-8').splitlines()


def test_readme_is_one_short_page_that_starts_with_sfd_and_the_two_commands():
    assert len(README_LINES) < 250
    first_screen = '\n'.join(README_LINES[:30])
    for claim in ('Semantic Feature Discrimination', 'Feat-D', 'TG-D', 'SFD-IQA', '## The two commands',
                  'make demo', 'make test'):
        assert claim in first_screen, claim
    text = '\n'.join(README_LINES)
    # what `make demo` prints: the ladder table, the comparison table, the stage times and the targets
    for block in ('distortion      levels', 'model          PSNR (dB)', 'Time of each stage', 'Targets:'):
        assert block in text, block


@pytest.mark.parametrize('page', sorted(p.name for p in (REPO / 'docs').glob('*.md')))
def test_readme_links_every_docs_page(page):
    assert f'](docs/{page})' in '\n'.join(README_LINES)
