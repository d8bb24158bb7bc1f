"""VlmReporter: the classifier's findings into the prompt, batches, streaming, parsing."""

from __future__ import annotations

from januscxr.labels import Finding
from januscxr.models.base import Reporter
from januscxr.models.janus import Generation, StopReason
from januscxr.report.prompt import build_prompt
from januscxr.report.vlm import VlmReporter
from januscxr.types import FindingResult
from tests.conftest import random_image

FLAGS = {
    Finding.PNEUMOTHORAX: FindingResult(Finding.PNEUMOTHORAX, 0.92, 0.3),
    Finding.CARDIOMEGALY: FindingResult(Finding.CARDIOMEGALY, 0.05, 0.3),
}


class RecordingBackend:
    """A test double: answers every prompt with a fixed report and records the calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def generate(self, prompts, images, *, max_new_tokens=512, on_text=None):
        self.calls.append(list(prompts))
        text = "FINDINGS: Right pneumothorax. IMPRESSION: 1. Right pneumothorax."
        for index in range(len(prompts)):
            if on_text is not None:
                on_text(index, text)
        return [Generation(text, (1, 2), StopReason.EOS) for _ in prompts]


def test_expert_findings_go_into_the_prompt_and_the_answer_is_parsed():
    backend = RecordingBackend()
    reporter = VlmReporter(backend, name="janus-pro-cxr-final")
    assert isinstance(reporter, Reporter)
    draft = reporter.draft(random_image(), FLAGS)
    assert backend.calls == [[build_prompt(expert_findings=[Finding.PNEUMOTHORAX])]]
    assert draft.findings == "Right pneumothorax." and draft.impression == "1. Right pneumothorax."
    assert draft.reporter == "janus-pro-cxr-final"


def test_expert_findings_can_be_left_out():
    backend = RecordingBackend()
    VlmReporter(backend, name="janus-pro-1b", use_expert_findings=False).draft(random_image(), FLAGS)
    assert backend.calls == [[build_prompt()]]


def test_batches_and_stream_indices_span_the_whole_list():
    backend, seen = RecordingBackend(), []
    reporter = VlmReporter(backend, name="x", batch_size=2, on_text=lambda i, t: seen.append(i))
    drafts = reporter.draft_many([random_image(s) for s in range(5)], [FLAGS] * 5)
    assert [len(call) for call in backend.calls] == [2, 2, 1]
    assert seen == [0, 1, 2, 3, 4] and len(drafts) == 5


def test_tiny_model_drafts_the_same_in_a_batch_and_alone(tiny_janus):
    reporter = VlmReporter(tiny_janus, name="tiny", max_new_tokens=12, batch_size=3)
    images = [random_image(s) for s in (11, 12, 13)]
    findings = [FLAGS, {}, {Finding.EDEMA: FindingResult(Finding.EDEMA, 0.8, 0.3)}]
    together = reporter.draft_many(images, findings)
    assert together == [reporter.draft(i, f) for i, f in zip(images, findings, strict=True)]
    assert all(d.reporter == "tiny" for d in together)
