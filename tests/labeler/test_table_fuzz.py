"""Fuzzing the report table readers: any bytes give rows or a ReportInputError, nothing else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from januscxr.errors import ReportInputError
from januscxr.labeler.table import read_report_table

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CSV_PIECES = st.sampled_from(["report", "id", ",", '"', '""', "\n", "\r\n", "\r", "\x00", "a", " ", "\ufeff", "é"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


def _read(path, allow_empty):
    try:
        table = read_report_table(path, "report", allow_empty=allow_empty)
    except ReportInputError as error:
        assert str(path) in str(error) and "\n" not in str(error)
    else:
        assert len(table.rows) == len(table.texts)


@FUZZ
@given(pieces=st.lists(CSV_PIECES, max_size=60), raw=st.binary(max_size=40), allow_empty=st.booleans())
def test_csv(tmp_path, pieces, raw, allow_empty):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"report,id\n" + "".join(pieces).encode("utf-8") + raw)
    _read(path, allow_empty)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["report", "id", "x"]), JSON_VALUES, max_size=3).map(json.dumps),
            JSON_VALUES.map(json.dumps),
            st.text(max_size=20),
            st.integers(1, 3000).map(lambda depth: "[" * depth),
        ),
        max_size=6,
    ),
    allow_empty=st.booleans(),
)
def test_jsonl(tmp_path, lines, allow_empty):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _read(path, allow_empty)
