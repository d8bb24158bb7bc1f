"""The Janus-Pro-CXR prompt, string for string as the reference implementation builds it.

The reference (Janus-Pro-CXR's ``inference.py`` on DeepSeek's ``VLChatProcessor``) formats one
User turn and an empty Assistant turn with the ``deepseek`` template: the default system prompt,
a blank line, ``User: <image_placeholder>\\n<request>``, a blank line, ``Assistant:``. The
processor then replaces the placeholder with begin-of-image, the image tokens (576 for a
384-pixel, 16-pixel-patch tower) and end-of-image; see
:meth:`januscxr.models.janus.JanusBackend.encode_prompt`.

The expert-augmented form (the paper's large-small collaboration) puts the classifier's positive
findings first: ``Expert analysis: <names> present.`` followed directly by the request, names in
CheXpert spelling and alphabetical order, as in the reference README's example. The clinical
history sentence is ours: the reference publishes no wording for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from januscxr.labels import Finding
from januscxr.models.janus_text import IMAGE_TOKEN
from januscxr.types import FindingResult

SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
)
USER_ROLE = "User"
ASSISTANT_ROLE = "Assistant"
TURN_SEPARATOR = "\n\n"
REPORT_REQUEST = "Give a radiology report based on the chest x-ray image, including FINDINGS and IMPRESSION."
# The request of the reference README's expert-augmented example, for those who want it verbatim.
README_EXPERT_REQUEST = "Please examine this X-ray and provide a radiology report including FINDINGS and IMPRESSION."


def expert_analysis(findings: Iterable[Finding | str]) -> str:
    """``Expert analysis: A, B present.`` with CheXpert names in alphabetical order; "" for none."""
    names = sorted({Finding.coerce(f).value for f in findings})
    return f"Expert analysis: {', '.join(names)} present." if names else ""


def flagged_findings(findings: Mapping[Finding, FindingResult]) -> list[Finding]:
    """The classifier's positive calls (``No Finding`` is never written as an expert finding)."""
    return [f for f, r in findings.items() if r.flagged and f is not Finding.NO_FINDING]


def user_request(
    *,
    expert_findings: Iterable[Finding | str] = (),
    indication: str | None = None,
    request: str = REPORT_REQUEST,
) -> str:
    """The User turn's text after the image line."""
    history = f"Clinical history: {indication.strip().rstrip('.')}. " if indication and indication.strip() else ""
    return f"{history}{expert_analysis(expert_findings)}{request}"


def build_prompt(
    *,
    expert_findings: Iterable[Finding | str] = (),
    indication: str | None = None,
    request: str = REPORT_REQUEST,
    system_prompt: str = SYSTEM_PROMPT,
) -> str:
    """The full prompt text, before the image placeholder is expanded into image tokens.

    Examples
    --------
    >>> build_prompt().endswith("including FINDINGS and IMPRESSION.\\n\\nAssistant:")
    True
    """
    content = f"{IMAGE_TOKEN}\n{user_request(expert_findings=expert_findings, indication=indication, request=request)}"
    system = f"{system_prompt}{TURN_SEPARATOR}" if system_prompt else ""
    return f"{system}{USER_ROLE}: {content.strip()}{TURN_SEPARATOR}{ASSISTANT_ROLE}:".strip()
