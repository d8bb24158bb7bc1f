"""Drafting reports with a vision-language model: prompt, generate, parse.

:class:`VlmReporter` is the :class:`~januscxr.models.base.Reporter` for Janus-Pro-CXR and the
other Janus checkpoints: it writes the classifier's positive findings into the reference
prompt, decodes greedily (in batches when given several studies) and splits the answer into
FINDINGS and IMPRESSION. The draft is for a radiologist to review, never a final report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from januscxr.labels import Finding
from januscxr.models.janus import DEFAULT_MAX_NEW_TOKENS, Generation, StopReason
from januscxr.report.parse import parse_report
from januscxr.report.prompt import REPORT_REQUEST, build_prompt, flagged_findings
from januscxr.types import DraftReport, FindingResult, Image

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 4


class TextGenerator(Protocol):
    """What :class:`VlmReporter` needs of a backend (:class:`~januscxr.models.janus.JanusBackend`)."""

    def generate(
        self,
        prompts: Sequence[str],
        images: Sequence[Image],
        *,
        max_new_tokens: int = ...,
        on_text: Callable[[int, str], None] | None = None,
    ) -> list[Generation]: ...


class VlmReporter:
    """A :class:`~januscxr.models.base.Reporter` over a vision-language model backend.

    Parameters
    ----------
    backend
        A loaded model, e.g. from :func:`januscxr.models.janus.load_janus`.
    name
        The registered model id, written into each draft.
    use_expert_findings
        Write the classifier's flagged findings into the prompt (``Expert analysis: ... present.``).
    on_text
        Called with ``(index in batch, new text)`` as tokens are decoded: streaming.
    """

    def __init__(
        self,
        backend: TextGenerator,
        *,
        name: str,
        use_expert_findings: bool = True,
        request: str = REPORT_REQUEST,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_text: Callable[[int, str], None] | None = None,
    ) -> None:
        self.backend = backend
        self._name = name
        self.use_expert_findings = use_expert_findings
        self.request = request
        self.max_new_tokens = max_new_tokens
        self.batch_size = max(1, batch_size)
        self.on_text = on_text

    @property
    def name(self) -> str:
        return self._name

    def prompt(self, findings: Mapping[Finding, FindingResult], indication: str | None = None) -> str:
        """The prompt text for one study."""
        expert = flagged_findings(findings) if self.use_expert_findings else []
        return build_prompt(expert_findings=expert, indication=indication, request=self.request)

    def draft(
        self, image: Image, findings: Mapping[Finding, FindingResult], *, indication: str | None = None
    ) -> DraftReport:
        """A FINDINGS / IMPRESSION draft for a radiologist to review."""
        return self.draft_many([image], [findings], indications=[indication])[0]

    def draft_many(
        self,
        images: Sequence[Image],
        findings: Sequence[Mapping[Finding, FindingResult]],
        *,
        indications: Sequence[str | None] | None = None,
    ) -> list[DraftReport]:
        """Drafts for several studies, ``batch_size`` at a time; the same drafts as one by one."""
        histories = list(indications) if indications is not None else [None] * len(images)
        prompts = [self.prompt(f, h) for f, h in zip(findings, histories, strict=True)]
        drafts: list[DraftReport] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = slice(start, start + self.batch_size)
            on_text = self._offset(start) if self.on_text is not None else None
            answers = self.backend.generate(
                prompts[batch], images[batch], max_new_tokens=self.max_new_tokens, on_text=on_text
            )
            for answer in answers:
                if answer.stop_reason is not StopReason.EOS:
                    logger.warning("%s: draft ended by %s, not end of sentence", self._name, answer.stop_reason.value)
                drafts.append(parse_report(answer.text, self._name))
        return drafts

    def _offset(self, start: int) -> Callable[[int, str], None]:
        callback = self.on_text
        assert callback is not None  # checked by the caller

        def shifted(index: int, text: str) -> None:
            callback(start + index, text)

        return shifted
