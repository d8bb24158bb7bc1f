"""Find the phrases of many regexes in one pass over the words of a text.

Scanning a report once per lexicon costs a regex-engine step at every character, most of it
spent on words no phrase starts with. :class:`PhraseScanner` reads each phrase's parse tree
once, learns which word beginnings (the first four letters) it can start with, and at each
word of the text tries, per lexicon, only the phrases that can start there. Results are
those of ``finditer`` on each lexicon's full regex: leftmost-first, in phrase order, and
non-overlapping within one lexicon.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEY_WIDTH = 4
_WORD = re.compile(rf"(\w{{1,{KEY_WIDTH}}})\w*")
_WORD_CHAR = re.compile(r"\w")


class _UnanalysableError(Exception):
    """A construct whose first characters cannot be listed (``\\w``, ``.``, a negated class)."""


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """One match: which lexicon (its index), where, and the name of the group that matched."""

    pattern: int
    start: int
    end: int
    group: str | None


PhraseGroups = Mapping[str, Sequence[str]]  # group name -> regexes, in the order they are tried


class PhraseScanner:
    """Several lexicons, each found as ``finditer`` on its one regex would find it, in one pass.

    A lexicon is an ordered mapping from group name to regexes; as one regex it would read
    ``\\b(?:(?P<name>r1|r2)|(?P<other>r3))\\b``. For each word beginning, the scanner
    compiles that regex from the phrases that can start there, in their order, so a match
    tries a handful of alternatives instead of all of them.

    Parameters
    ----------
    lexicons
        The lexicons; matches report a lexicon by its index here. Every regex must match
        from a word boundary onward, starting with a word character.
    """

    def __init__(self, lexicons: Sequence[PhraseGroups]) -> None:
        self.lexicons = tuple(lexicons)
        phrases = [[(name, regex) for name, group in lexicon.items() for regex in group] for lexicon in lexicons]
        self._size = len(phrases)
        by_key: dict[str, dict[int, set[int]]] = {}
        everywhere: dict[int, set[int]] = {}
        for lexicon_index, lexicon_phrases in enumerate(phrases):
            for phrase_index, (_, regex) in enumerate(lexicon_phrases):
                keys = leading_keys(regex)
                for key in keys if keys is not None else ():
                    by_key.setdefault(key, {}).setdefault(lexicon_index, set()).add(phrase_index)
                if keys is None:
                    everywhere.setdefault(lexicon_index, set()).add(phrase_index)
        compiled: dict[tuple[int, tuple[int, ...]], re.Pattern[str]] = {}

        def plan(chosen: dict[int, set[int]]) -> tuple[tuple[int, re.Pattern[str]], ...]:
            steps = []
            for lexicon_index in sorted(chosen.keys() | everywhere.keys()):
                subset = tuple(sorted(chosen.get(lexicon_index, set()) | everywhere.get(lexicon_index, set())))
                if (lexicon_index, subset) not in compiled:
                    compiled[lexicon_index, subset] = _compile([phrases[lexicon_index][i] for i in subset])
                steps.append((lexicon_index, compiled[lexicon_index, subset]))
            return tuple(steps)

        self._plans = {key: plan(chosen) for key, chosen in by_key.items()}
        self._default = plan({})

    def scan(self, text: str) -> list[PhraseMatch]:
        """All matches of all lexicons in ``text``, in order of position."""
        matches: list[PhraseMatch] = []
        resume = [0] * self._size  # finditer resumes after a match, per lexicon
        plans, default = self._plans, self._default
        for word in _WORD.finditer(text):
            steps = plans.get(word.group(1), default)
            if not steps:
                continue
            start = word.start()
            for index, pattern in steps:
                if start < resume[index]:
                    continue
                match = pattern.match(text, start)
                if match is not None and match.end() > start:
                    resume[index] = match.end()
                    matches.append(PhraseMatch(index, start, match.end(), match.lastgroup))
        return matches


def compile_lexicon(lexicon: PhraseGroups) -> re.Pattern[str]:
    """A lexicon as one regex: a named group per entry, tried in order, on word boundaries."""
    alternatives = "|".join(f"(?P<{name}>{'|'.join(group)})" for name, group in lexicon.items() if group)
    return re.compile(rf"\b(?:{alternatives})\b")


def _compile(phrases: Sequence[tuple[str, str]]) -> re.Pattern[str]:
    """The regex of a subset of a lexicon's phrases, in their order (a group's phrases are adjacent)."""
    groups: dict[str, list[str]] = {}
    for name, regex in phrases:
        groups.setdefault(name, []).append(regex)
    return compile_lexicon(groups)


def leading_keys(regex: str, width: int = KEY_WIDTH) -> frozenset[str] | None:
    """The first ``width`` word characters a match of ``regex`` can begin with.

    A first word shorter than ``width`` gives a shorter key ("ng" tube, "j" tube). ``None``
    when the regex can start with a character that cannot be listed.

    Parameters
    ----------
    regex
        A regular expression whose matches start with a word character.
    width
        Key length.

    Returns
    -------
    frozenset of str or None
        Every key a match can have (a superset), or ``None`` if unknown.
    """
    try:
        open_keys, closed_keys = _walk(_parse(regex), {""}, set(), width)
    except (_UnanalysableError, ImportError, re.error, AttributeError, TypeError, ValueError):
        return None
    keys = frozenset(open_keys | closed_keys)
    return None if not keys or "" in keys else keys


def _parse(regex: str) -> Any:
    """CPython's parse tree of a regex. It has no public API: should it change or go, every
    phrase falls back to being tried at every word, slower and still right."""
    return importlib.import_module("re._parser").parse(regex)


def _walk(items: Iterable[Any], open_keys: set[str], closed: set[str], width: int) -> tuple[set[str], set[str]]:
    """Extend the keys still open (shorter than ``width``, word not ended) through a parsed sequence."""
    for op, argument in items:
        if not open_keys:
            break
        name = str(op)
        if name == "LITERAL":
            open_keys, closed = _extend(open_keys, closed, {chr(argument)}, width)
        elif name == "IN":
            open_keys, closed = _extend(open_keys, closed, _class_chars(argument), width)
        elif name == "BRANCH":
            results = [_walk(alternative, set(open_keys), set(), width) for alternative in argument[1]]
            open_keys = set().union(*(r[0] for r in results))
            closed = closed.union(*(r[1] for r in results))
        elif name == "SUBPATTERN":
            open_keys, closed = _walk(argument[3], open_keys, closed, width)
        elif name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            open_keys, closed = _repeat(argument, open_keys, closed, width)
        elif name not in {"AT", "ASSERT", "ASSERT_NOT"}:  # those are zero width: no characters
            raise _UnanalysableError(name)
    return open_keys, closed


def _repeat(argument: Any, open_keys: set[str], closed: set[str], width: int) -> tuple[set[str], set[str]]:
    """Keys after ``min`` to ``max`` repetitions, up to as many as can still add a character."""
    low, high, body = argument
    reachable: set[str] = set(open_keys) if low == 0 else set()
    current = set(open_keys)
    for count in range(1, min(high, low + width + 1) + 1):
        current, closed = _walk(body, current, closed, width)
        if count >= low:
            reachable |= current
        if not current:
            break
    return reachable, closed


def _extend(open_keys: set[str], closed: set[str], chars: set[str], width: int) -> tuple[set[str], set[str]]:
    """Append one character: a word character lengthens a key, anything else ends the word."""
    grown: set[str] = set()
    closed = set(closed)
    for char in chars:
        if _WORD_CHAR.match(char):
            for key in open_keys:
                (closed if len(key) + 1 >= width else grown).add(key + char)
        else:
            closed |= open_keys
    return grown, closed


def _class_chars(items: Any) -> set[str]:
    """The characters of a ``[...]`` class; separators are kept, anything open-ended is refused."""
    chars: set[str] = set()
    for op, argument in items:
        name = str(op)
        if name == "LITERAL":
            chars.add(chr(argument))
        elif name == "RANGE" and argument[1] - argument[0] < 16:
            chars |= {chr(c) for c in range(argument[0], argument[1] + 1)}
        elif name == "CATEGORY" and str(argument) == "CATEGORY_SPACE":
            chars.add(" ")
        else:
            raise _UnanalysableError(name)
    return chars
