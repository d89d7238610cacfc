"""Prose that cannot drift from its run: the measured-number check of a chapter's results sections.

A chapter marks the parts of its text that report measurements of its own run with MyST comment
lines ``% measured: begin`` and ``% measured: end``. Inside them every measured number must come
from the executed notebook through a MyST-NB glue role (``{glue:md}`key```, ``{glue:text}`...``),
so that a re-execution that changes a number changes the text with it. :func:`literals` finds
the numbers that look measured and are not glued:

- decimals (``0.25``), percentages (``67 %``), counts and ratios (``4/5``), ranges (``52–80``,
  ``52-80``) and epochs (``epoch 142``);
- outside glue roles, inline code and ``$...$`` math (parameters and formulas, such as
  ``$2/\\eta = 20$`` or ``$T = 2$``, are written as math or code);
- except the chapter's ``allowed`` literals: fixed bounds and parameters quoted in words (listed
  with the chapter in ``tests/test_book.py``).

Numbers quoted from the paper belong outside the marked parts, or in math/code, marked as the
paper's in the text.
"""

from __future__ import annotations

import re

BEGIN, END = "% measured: begin", "% measured: end"
_SKIP = re.compile(r"\{glue:[a-z]+\}`[^`]*`|``[^`]*``|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", re.S)
_MEASURED = re.compile(r"\b\d+\.\d+\b|\b\d+\s?%|\b\d+/\d+\b|\b\d+\s?[–-]\s?\d+\b|\bepochs?\s+\d+\b")


def regions(text: str) -> list[str]:
    """The marked parts of a chapter's MyST text (module docstring)."""
    out, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip().startswith(BEGIN):
            inside, current = True, []
        elif line.strip().startswith(END) and inside:
            inside = False
            out.append("\n".join(current))
        elif inside:
            current.append(line)
    if inside:
        raise ValueError(f"'{BEGIN}' without '{END}'")
    return out


def literals(text: str, allowed: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The measured-looking numbers of the marked parts of ``text`` that are not glued (and not
    in ``allowed``), in order."""
    found = []
    for part in regions(text):
        bare = _SKIP.sub(" ", part)
        found += [m.group(0) for m in _MEASURED.finditer(bare) if m.group(0) not in allowed]
    return found
