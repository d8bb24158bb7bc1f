"""Word-level differences between two report versions, side by side, for the history page.

Plain data, no HTML: the template writes each segment through Jinja's autoescape, so report
text can never become markup.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

# A word with the spaces after it, a punctuation mark with the spaces after it, or leading
# spaces. Spaces ride with the token before them, so that a run of changed words is one mark and
# not words broken up by the unchanged spaces between them.
_TOKEN = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")


@dataclass(frozen=True)
class Segment:
    """A run of text that is the same in both versions, or changed (deleted on the left, inserted on the right)."""

    text: str
    changed: bool = False


@dataclass(frozen=True)
class SectionDiff:
    """One report section (Findings, Impression) before and after."""

    name: str
    before: list[Segment] = field(default_factory=list)
    after: list[Segment] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.before) or any(s.changed for s in self.after)


def word_diff(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """``before`` and ``after`` cut into segments, words that differ marked ``changed`` (difflib on words)."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    left: list[Segment] = []
    right: list[Segment] = []
    for changed, i1, i2, j1, j2 in _runs(a, b):
        _append(left, "".join(a[i1:i2]), changed=changed)
        _append(right, "".join(b[j1:j2]), changed=changed)
    return left, right


def _runs(a: list[str], b: list[str]) -> list[tuple[bool, int, int, int, int]]:
    """difflib's opcodes as (changed, i1, i2, j1, j2), neighbouring changes joined into one run."""
    # Compared without their spaces: "effusion" at the end of a text is the same word as "effusion ".
    keys_a, keys_b = [t.rstrip() or " " for t in a], [t.rstrip() or " " for t in b]
    codes = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes()
    runs: list[tuple[bool, int, int, int, int]] = []
    size = [max(len("".join(a[i1:i2]).strip()), len("".join(b[j1:j2]).strip())) for _, i1, i2, j1, j2 in codes]
    for k, (op, i1, i2, j1, j2) in enumerate(codes):
        # A short stretch left standing between two longer changes ("... opacity. No pleural ...")
        # reads as noise: fold it in (diff-match-patch's semantic cleanup does the same).
        lone = 0 < k < len(codes) - 1 and size[k] <= min(size[k - 1], size[k + 1])
        changed = op != "equal" or lone
        if runs and runs[-1][0] == changed:
            runs[-1] = (changed, runs[-1][1], i2, runs[-1][3], j2)
        else:
            runs.append((changed, i1, i2, j1, j2))
    return runs


def section_diffs(before: dict[str, str] | None, after: dict[str, str]) -> list[SectionDiff]:
    """Each section of ``after`` (name -> text) against the same section of ``before``; the first
    version (``before`` None) is its own text, nothing marked."""
    if before is None:
        return [SectionDiff(name, [], [Segment(text)] if text else []) for name, text in after.items()]
    return [SectionDiff(name, *word_diff(before.get(name, ""), text)) for name, text in after.items()]


def _append(segments: list[Segment], text: str, *, changed: bool) -> None:
    """Add a run, leaving its trailing spaces unmarked (a highlighted gap reads as a change)."""
    if not text:
        return
    body = text.rstrip() if changed else text
    if body:
        segments.append(Segment(body, changed))
    if len(body) < len(text):
        segments.append(Segment(text[len(body) :]))
