"""How report text becomes the space-separated tokens that the captioning metrics compare.

Three conventions, because published numbers depend on them as much as on the model:

``r2gen``
    The cleaning of the R2Gen family (R2Gen, R2GenCMN and the models compared with them on
    IU X-Ray and MIMIC-CXR): lower-case, list numbers and most punctuation removed, sentences
    split at ". " and re-joined with a " . " token. Those papers score the cleaned text with
    pycocoevalcap's scorers and no further tokenization. (They also map words outside the
    training vocabulary to ``<unk>`` and truncate at a maximum length; that depends on their
    training data and is not reproduced here.)
``ptb``
    The MS-COCO caption convention: Stanford CoreNLP's PTBTokenizer (the jar shipped inside
    pycocoevalcap, run by Java), lower-cased, punctuation tokens dropped. Needs Java.
``none``
    The text is already tokenized: whitespace runs become single spaces, nothing else changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from januscxr.errors import EvaluationInputError


class Tokenization(StrEnum):
    """The text normalisation applied before scoring."""

    R2GEN = "r2gen"
    PTB = "ptb"
    NONE = "none"

    @classmethod
    def coerce(cls, value: str | Tokenization) -> Tokenization:
        """Accept the enum or its value; raise EvaluationInputError otherwise."""
        try:
            return cls(value)
        except ValueError:
            expected = ", ".join(m.value for m in cls)
            raise EvaluationInputError(f"unknown tokenization {value!r}; expected one of: {expected}") from None


# The R2Gen report cleaner, step by step: replacements applied in this order, each once.
_R2GEN_COLLAPSE = [("__", "_")] * 7 + [("  ", " ")] * 6 + [("..", ".")] * 8
_R2GEN_LIST_NUMBERS = [("1. ", ""), (". 2. ", ". "), (". 3. ", ". "), (". 4. ", ". "), (". 5. ", ". ")] + [
    (f" {k}. ", ". ") for k in range(2, 6)
]
# Characters removed from each sentence. ":-\[" is a character range in the original pattern,
# so ; < = > ? @ and upper-case letters also go (the text is lower-cased first).
_R2GEN_STRIP = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")
_R2GEN_DROP = ('"', "/", "\\", "'")

_PTB_TIMEOUT_S = 600.0


def clean_report_r2gen(text: str) -> str:
    """Clean one report as the R2Gen family does before scoring.

    Parameters
    ----------
    text : str
        A free-text report.

    Returns
    -------
    str
        Lower-case tokens separated by single spaces, each sentence closed by a " ." token,
        e.g. ``"the heart is normal . no effusion ."``.
    """
    cleaned = text.replace("\n", " ")
    for old, new in _R2GEN_COLLAPSE + _R2GEN_LIST_NUMBERS:
        cleaned = cleaned.replace(old, new)
    sentences = []
    for sentence in cleaned.strip().lower().split(". "):
        for char in _R2GEN_DROP:
            sentence = sentence.replace(char, "")
        sentences.append(_R2GEN_STRIP.sub("", sentence.strip().lower()))
    return " ".join((" . ".join(sentences) + " .").split())


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """Tokenize many texts with one run of Stanford's PTBTokenizer, as pycocoevalcap does.

    Parameters
    ----------
    texts : sequence of str
        Texts to tokenize; line breaks inside a text are treated as spaces.

    Returns
    -------
    list of str
        Lower-case tokens joined by single spaces, with pycocoevalcap's punctuation tokens
        removed (``-lrb-`` and ``-rrb-`` stay, as they do in pycocoevalcap).
    """
    if not texts:
        return []
    java = shutil.which("java")
    if java is None:
        raise EvaluationInputError(
            "tokenization 'ptb' needs Java (apt-get install -y default-jre-headless); use tokenization 'r2gen' or 'none' without it"
        )
    from pycocoevalcap.tokenizer import ptbtokenizer  # type: ignore[import-untyped]

    jar = Path(ptbtokenizer.__file__).parent / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR
    punctuation = frozenset(ptbtokenizer.PUNCTUATIONS)
    lines = [" ".join(text.split()) for text in texts]
    with tempfile.TemporaryDirectory(prefix="januscxr-ptb-") as folder:
        source = Path(folder) / "sentences.txt"
        source.write_bytes("\n".join(lines).encode("utf-8"))
        command = [
            java,
            "-cp",
            str(jar),
            "edu.stanford.nlp.process.PTBTokenizer",
            "-preserveLines",
            "-lowerCase",
            str(source),
        ]
        completed = subprocess.run(command, capture_output=True, check=False, timeout=_PTB_TIMEOUT_S)
    if completed.returncode != 0:
        raise EvaluationInputError(
            f"PTBTokenizer exited with status {completed.returncode}: {completed.stderr.decode()[-500:]}"
        )
    tokenized = completed.stdout.decode("utf-8").split("\n")
    if len(tokenized) < len(lines):
        raise EvaluationInputError(
            f"PTBTokenizer returned {len(tokenized)} lines for {len(lines)} texts; expected one per text"
        )
    return [" ".join(w for w in line.rstrip().split(" ") if w not in punctuation) for line in tokenized[: len(lines)]]


def tokenize_texts(texts: Sequence[str], tokenization: str | Tokenization) -> list[str]:
    """Apply one :class:`Tokenization` to every text (PTB in a single Java run)."""
    mode = Tokenization.coerce(tokenization)
    if mode is Tokenization.PTB:
        return ptb_tokenize(texts)
    if mode is Tokenization.R2GEN:
        return [clean_report_r2gen(text) for text in texts]
    return [" ".join(text.split()) for text in texts]


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH (METEOR and PTB tokenization need one)."""
    return shutil.which("java") is not None
