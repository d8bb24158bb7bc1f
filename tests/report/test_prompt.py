"""The Janus-Pro-CXR prompt, exactly as the reference builds it."""

from __future__ import annotations

from januscxr.labels import Finding
from januscxr.report.prompt import README_EXPERT_REQUEST, build_prompt, expert_analysis, flagged_findings
from januscxr.types import FindingResult

REFERENCE = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.\n\n"
    "User: <image_placeholder>\n"
    "Give a radiology report based on the chest x-ray image, including FINDINGS and IMPRESSION.\n\n"
    "Assistant:"
)


def test_default_prompt_is_the_reference_string():
    assert build_prompt() == REFERENCE


def test_expert_form_names_the_positive_findings_alphabetically_then_the_request():
    prompt = build_prompt(expert_findings=[Finding.PNEUMOTHORAX, "pleural effusion", Finding.LUNG_OPACITY])
    assert prompt == REFERENCE.replace(
        "<image_placeholder>\nGive",
        "<image_placeholder>\nExpert analysis: Lung Opacity, Pleural Effusion, Pneumothorax present.Give",
    )


def test_the_readme_example_can_be_reproduced_verbatim():
    findings = ["Lung Opacity", "Pleural Effusion", "Pleural Other", "Pneumothorax", "Support Devices"]
    prompt = build_prompt(expert_findings=findings, request=README_EXPERT_REQUEST)
    assert (
        "User: <image_placeholder>\nExpert analysis: Lung Opacity, Pleural Effusion, Pleural Other, Pneumothorax, "
        "Support Devices present.Please examine this X-ray and provide a radiology report including FINDINGS and "
        "IMPRESSION.\n\nAssistant:"
    ) in prompt


def test_clinical_history_comes_first_and_is_optional():
    prompt = build_prompt(expert_findings=["Edema"], indication="  Dyspnoea, on dialysis. ")
    assert "<image_placeholder>\nClinical history: Dyspnoea, on dialysis. Expert analysis: Edema present.Give" in prompt
    assert build_prompt(indication="   ") == REFERENCE


def test_only_flagged_findings_become_expert_findings():
    results = {
        Finding.PNEUMOTHORAX: FindingResult(Finding.PNEUMOTHORAX, 0.9, 0.3),
        Finding.EDEMA: FindingResult(Finding.EDEMA, 0.1, 0.3),
        Finding.NO_FINDING: FindingResult(Finding.NO_FINDING, 0.9, 0.5),
    }
    assert flagged_findings(results) == [Finding.PNEUMOTHORAX]
    assert expert_analysis([]) == ""
