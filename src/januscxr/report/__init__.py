"""Report text: composing drafts from findings (and, later, prompts and VLM parsing)."""

from januscxr.report.compose import FindingsComposer, compose_report

__all__ = ["FindingsComposer", "compose_report"]
