"""Word-level, side-by-side report differences for the history page."""

from __future__ import annotations

from januscxr.server.diffs import Segment, section_diffs, word_diff


def _marked(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments if s.changed]


def test_changed_words_are_marked_on_each_side_and_the_rest_kept() -> None:
    before, after = word_diff(
        "Small left pleural effusion. No pneumothorax.", "Small right pleural effusion. No pneumothorax."
    )
    assert _marked(before) == ["left"] and _marked(after) == ["right"]
    assert "".join(s.text for s in before) == "Small left pleural effusion. No pneumothorax."
    assert "".join(s.text for s in after) == "Small right pleural effusion. No pneumothorax."


def test_a_run_of_changed_words_is_one_mark_without_trailing_spaces() -> None:
    _, after = word_diff("No acute findings.", "Right lower lobe consolidation. No acute findings.")
    assert _marked(after) == ["Right lower lobe consolidation."]
    before, after = word_diff("effusion.", "effusion, small.")
    assert _marked(before) == [] and _marked(after) == [", small"]


def test_identical_texts_have_nothing_marked() -> None:
    text = "Heart size normal.\nLungs clear.\n"
    before, after = word_diff(text, text)
    assert not _marked(before) and not _marked(after)
    assert [s.changed for s in section_diffs({"Findings": text}, {"Findings": text})] == [False]


def test_the_first_version_is_shown_plain_and_markup_stays_text() -> None:
    (first,) = section_diffs(None, {"Findings": "<b>opacity</b>"})
    assert first.before == [] and first.after == [Segment("<b>opacity</b>")] and not first.changed
    (section,) = section_diffs({"Findings": "a"}, {"Findings": "a <script>"})
    assert "".join(_marked(section.after)) == "<script>"  # plain text: the template escapes it


def test_spacing_and_line_breaks_alone_are_not_changes() -> None:
    before, after = word_diff("No effusion", "No effusion.\nHeart normal")
    assert _marked(before) == [] and _marked(after) == [".\nHeart normal"]


def test_a_short_stretch_between_two_longer_changes_joins_them() -> None:
    before, after = word_diff(
        "Possible airspace opacity. No pleural effusion.", "Right lower lobe consolidation, unchanged. No pneumothorax."
    )
    assert _marked(before) == ["Possible airspace opacity. No pleural effusion"]  # the full stop stays
    assert _marked(after) == ["Right lower lobe consolidation, unchanged. No pneumothorax"]
    _, after = word_diff("Small left effusion. No pneumothorax.", "Moderate left effusion. No pneumothorax seen.")
    assert _marked(after) == ["Moderate", "seen"]
    before, after = word_diff("Small left effusion.", "Small right effusion there.")
    assert _marked(before) == ["left"] and _marked(after) == ["right", "there"]  # "effusion" is longer than both
