"""The one CSV writer and reader: hostile values quoted and neutralised, Excel's files read, every
refusal naming the file, the line and the column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from crm_ops import csvio
from crm_ops.errors import ConfigError

HOSTILE = [
    "lone\rreturn",
    "\r",
    "line\nfeed",
    "crlf\r\nin the middle",
    'a "quoted" word',
    "comma, inside",
    "semi; colon",
    "tab\tinside",
    '=HYPERLINK("http://evil","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "-5",
    "+44 20 7946 0000",
    "",
    "x" * 1_100_000,  # a 1 MB value
    "naïve café 日本 🙂",
]


def test_the_stdlib_leaves_a_lone_cr_bare_which_is_why_we_quote_rows_ourselves() -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["a\rb", "c"])
    assert buffer.getvalue() == "a\rb,c\n"  # unquoted: a reader splits the row at the CR
    ours = csvio.format_rows(["x", "y"], [["a\rb", "c"]])
    assert ours == 'x,y\n"a\rb","c"\n'


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_every_hostile_value_round_trips_in_one_row(sep: str) -> None:
    header = [f"c{i}" for i in range(len(HOSTILE))]
    text = csvio.format_rows(header, [HOSTILE, list(reversed(HOSTILE))], sep=sep)
    table = csvio.read_text(text, "t.csv")
    assert table.sep == sep
    assert [list(r.values.values()) for r in table] == [HOSTILE, list(reversed(HOSTILE))]
    assert [r.line for r in table] == [2, 2 + 1 + sum(v.count("\n") + v.count("\r") - v.count("\r\n")
                                                      for v in HOSTILE)]  # fmt: skip
    # and a strict reader of another make agrees: two records, each as wide as the header
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True))
    assert len(rows) == 3 and all(len(r) == len(header) for r in rows)


def test_values_a_spreadsheet_would_run_are_neutralised_and_read_back_as_given() -> None:
    for value in HOSTILE:
        shown = csvio.neutralise(value)
        if value[:1] in ("=", "+", "@", "\t", "\r") or value.startswith("-2"):
            assert shown == "'" + value
        else:
            assert shown == value  # numbers and plain text as they are
        assert csvio.unneutralise(shown) == value
    assert csvio.unneutralise("'quoted on purpose") == "'quoted on purpose"


def test_excel_files_are_read_bom_semicolon_sep_line_and_utf16(tmp_path: Path) -> None:
    text = csvio.format_rows(
        ["approve", "action_id", "note"], [["yes", "a1", "1,5"], ["no", "a2", "x"]], sep=";"
    )
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    table = csvio.read_file(bom, required=("approve", "action_id"))
    assert (table.sep, table.encoding) == (";", "UTF-8 (with BOM)")
    assert [r.values for r in table] == [
        {"approve": "yes", "action_id": "a1", "note": "1,5"},
        {"approve": "no", "action_id": "a2", "note": "x"},
    ]
    hint = tmp_path / "hint.csv"
    hint.write_text("sep=;\n" + text)
    assert [r.line for r in csvio.read_file(hint)] == [3, 4]
    unicode_text = tmp_path / "unicode.txt"
    unicode_text.write_bytes(text.replace(";", "\t").encode("utf-16"))
    table = csvio.read_file(unicode_text, required=("approve",))
    assert (table.sep, table.encoding, table.rows[0].get("note")) == ("\t", "UTF-16", "1,5")


def test_other_encodings_are_refused_naming_the_encoding_line_and_column(tmp_path: Path) -> None:
    cp = tmp_path / "cp1252.csv"
    cp.write_bytes("approve,action_id\nyes,caf\u00e9\n".encode("cp1252"))
    with pytest.raises(ConfigError) as raised:
        csvio.read_file(cp)
    assert f"{cp}:2: column 8: byte 0xE9 is not UTF-8" in str(raised.value)
    assert "Windows-1252" in str(raised.value) and "CSV UTF-8" in str(raised.value)
    bare16 = tmp_path / "bare16.csv"
    bare16.write_bytes("approve,action_id\n".encode("utf-16-le"))
    with pytest.raises(ConfigError, match="UTF-16 without a byte-order mark"):
        csvio.read_file(bare16)


def test_a_split_or_short_row_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "review.csv"
    path.write_text("approve,action_id,label\nyes,a1,Ann\nyes,a2\rno,a3,Bob\n")  # a bare CR split a row
    with pytest.raises(ConfigError) as raised:
        csvio.read_file(path)
    assert f"{path}:3: column 3: 2 field(s), the header has 3" in str(raised.value)
    with pytest.raises(ConfigError, match=r"review.csv:1: the header lacks the column\(s\) action_id"):
        csvio.read_text("approve;id\n", str(path), required=("approve", "action_id"))
    with pytest.raises(ConfigError, match="the file is empty"):
        csvio.read_text("", "empty.csv")
    table = csvio.read_text("approve,action_id\nyes,a1\n", "r.csv")
    assert table.where(table.rows[0], "action_id") == "r.csv:2: column 2 (action_id)"
