"""Report-generation metrics agree with pycocoevalcap's own pipeline on a fixed corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from januscxr.errors import EvaluationInputError
from januscxr.eval import text as text_module
from januscxr.eval import tokenization
from januscxr.eval.text import TEXT_METRICS, TextScores, model_metric_status, score_reports
from januscxr.eval.tokenization import clean_report_r2gen, ptb_tokenize, tokenize_texts

from .corpus import CORPUS, predictions, references

needs_java = pytest.mark.skipif(
    shutil.which("java") is None, reason="needs Java (apt-get install default-jre-headless)"
)

# What pycocoevalcap 1.2 computes for CORPUS as COCOEvalCap does it: PTBTokenizer().tokenize on
# references and predictions, then Bleu(4), Meteor(), Rouge() and Cider() on the tokens.
PYCOCOEVALCAP_PTB = {
    "BLEU_1": 0.4583787184,
    "BLEU_2": 0.3620330165,
    "BLEU_3": 0.2915284265,
    "BLEU_4": 0.2193764750,
    "METEOR": 0.2447922709,
    "ROUGE_L": 0.4927011319,
    "CIDEr": 2.6804637800,
}
# The same scorers on the R2Gen-cleaned text (no PTB tokenization), as R2Gen-family papers score.
PYCOCOEVALCAP_R2GEN = {
    "BLEU_1": 0.5339423713,
    "BLEU_2": 0.4129848760,
    "BLEU_3": 0.3335266443,
    "BLEU_4": 0.2692629682,
    "ROUGE_L": 0.5564689822,
    "CIDEr": 2.7247713633,
}


@pytest.fixture(scope="module")
def ptb_scores() -> TextScores:
    """All seven metrics with PTB tokenization: one PTB and one METEOR Java process."""
    if shutil.which("java") is None:
        pytest.skip("needs Java")
    return score_reports(predictions(), references(), tokenization="ptb")


@needs_java
@pytest.mark.slow
def test_ptb_scores_agree_with_pycocoevalcap_to_1e6(ptb_scores: TextScores) -> None:
    assert ptb_scores.unavailable == {}
    assert set(ptb_scores.corpus) == set(TEXT_METRICS)
    for name, expected in PYCOCOEVALCAP_PTB.items():
        assert ptb_scores.corpus[name] == pytest.approx(expected, abs=1e-6), name


@needs_java
@pytest.mark.slow
def test_identical_report_scores_one_and_unrelated_report_scores_zero(ptb_scores: TextScores) -> None:
    same, unrelated = ptb_scores.per_report["r07"], ptb_scores.per_report["r08"]
    assert same["BLEU_4"] == pytest.approx(1.0, abs=1e-6)
    assert same["ROUGE_L"] == pytest.approx(1.0)
    assert same["METEOR"] == pytest.approx(1.0)
    assert unrelated["METEOR"] == 0.0
    assert unrelated["ROUGE_L"] == 0.0


@needs_java
@pytest.mark.slow
def test_corpus_rouge_and_cider_are_means_but_meteor_pools_statistics(ptb_scores: TextScores) -> None:
    def mean(name: str) -> float:
        return sum(s[name] for s in ptb_scores.per_report.values()) / len(ptb_scores.per_report)

    assert ptb_scores.corpus["ROUGE_L"] == pytest.approx(mean("ROUGE_L"))
    assert ptb_scores.corpus["CIDEr"] == pytest.approx(mean("CIDEr"))
    assert ptb_scores.corpus["METEOR"] != pytest.approx(mean("METEOR"))


@needs_java
def test_ptb_tokenize_matches_pycocoevalcap_ptbtokenizer() -> None:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    texts = list(predictions().values()) + list(references().values())
    theirs = PTBTokenizer().tokenize({str(k): [{"caption": t}] for k, t in enumerate(texts)})
    assert ptb_tokenize(texts) == [theirs[str(k)][0] for k in range(len(texts))]


@needs_java
def test_ptb_tokenize_keeps_one_line_per_text_with_inner_newlines() -> None:
    assert ptb_tokenize(["Heart normal.\nLungs clear.", "Effusion (small)."]) == [
        "heart normal lungs clear",
        "effusion -lrb- small -rrb-",
    ]


def test_r2gen_scores_without_meteor_match_pycocoevalcap() -> None:
    metrics = [m for m in TEXT_METRICS if m != "METEOR"]
    scores = score_reports(predictions(), references(), tokenization="r2gen", metrics=metrics)
    assert "METEOR" not in scores.corpus
    for name, expected in PYCOCOEVALCAP_R2GEN.items():
        assert scores.corpus[name] == pytest.approx(expected, abs=1e-6), name


def test_pure_python_scorers_match_direct_calls_on_cleaned_text() -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    res = {k: [clean_report_r2gen(p)] for k, (p, _) in CORPUS.items()}
    gts = {k: [clean_report_r2gen(r)] for k, (_, r) in CORPUS.items()}
    scores = score_reports(predictions(), references(), metrics=["BLEU_1", "ROUGE_L", "CIDEr"])
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [scores.corpus[f"BLEU_{n}"] for n in range(1, 5)] == pytest.approx(bleu, abs=1e-12)
    assert scores.corpus["ROUGE_L"] == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-12)
    assert scores.corpus["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0], abs=1e-12)


def test_rouge_l_by_hand() -> None:
    # "a b c d" against "a c d e": LCS "a c d" = 3; P = 3/4, R = 3/4, beta 1.2 -> F = 0.75.
    # "a b" against "a x y b": LCS 2; P = 1, R = 1/2; F = (1 + 1.44) * 0.5 / (0.5 + 1.44) = 0.628866.
    scores = score_reports(
        {"x": "a b c d", "y": "a b"}, {"x": "a c d e", "y": "a x y b"}, tokenization="none", metrics=["ROUGE_L"]
    )
    assert scores.per_report["x"]["ROUGE_L"] == pytest.approx(0.75)
    assert scores.per_report["y"]["ROUGE_L"] == pytest.approx(2.44 * 0.5 / 1.94)


def test_r2gen_cleaning_by_hand() -> None:
    assert clean_report_r2gen("1. Heart is normal. 2. No effusion!") == "heart is normal . no effusion ."
    assert (
        clean_report_r2gen("Tube 3.5 cm above carina; stable.\nNo PTX.") == "tube 35 cm above carina stable . no ptx ."
    )
    assert (
        clean_report_r2gen('Right-sided "tension" pneumothorax (large).') == "right-sided tension pneumothorax large ."
    )


def test_none_tokenization_only_collapses_whitespace() -> None:
    assert tokenize_texts(["  a\tb \n c  "], "none") == ["a b c"]


def test_several_references_per_report_are_accepted() -> None:
    scores = score_reports({"x": "no effusion"}, {"x": ["no effusion", "small effusion"]}, metrics=["ROUGE_L"])
    assert scores.per_report["x"]["ROUGE_L"] == pytest.approx(1.0)


def test_meteor_is_unavailable_without_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "java_available", lambda: False)
    scores = score_reports(predictions(), references(), metrics=["METEOR", "ROUGE_L"])
    assert "METEOR" not in scores.corpus
    assert "Java" in scores.unavailable["METEOR"]
    assert scores.corpus["ROUGE_L"] > 0


def test_ptb_without_java_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenization.shutil, "which", lambda name: None)
    with pytest.raises(EvaluationInputError, match="needs Java"):
        ptb_tokenize(["text"])


def test_ids_that_do_not_match_raise_naming_them() -> None:
    with pytest.raises(EvaluationInputError, match=r"'r99'"):
        score_reports({"r01": "a", "r99": "b"}, {"r01": "a"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tokenization": "bpe"}, "unknown tokenization"), ({"metrics": ["SPICE"]}, "unknown metric")],
)
def test_bad_options_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        score_reports({"a": "x"}, {"a": "x"}, **kwargs)  # type: ignore[arg-type]


def test_empty_corpus_raises() -> None:
    with pytest.raises(EvaluationInputError, match="no reports"):
        score_reports({}, {})


def test_model_metrics_are_unavailable_without_local_weights(tmp_path: Path) -> None:
    status = model_metric_status("chexbert_f1")
    assert not status.available and "never downloads" in status.reason
    assert "does not exist" in model_metric_status("radgraph_f1", tmp_path / "missing").reason
    found = model_metric_status("bertscore", tmp_path)
    assert not found.available and found.weights_dir == str(tmp_path)
    with pytest.raises(EvaluationInputError, match="unknown model-based metric"):
        model_metric_status("bleurt")
