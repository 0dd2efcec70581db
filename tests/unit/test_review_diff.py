"""The review app's differences (issue 29): character by character, whitespace made visible, so a fix
that only trims spaces does not look the same before and after."""

from __future__ import annotations

from crm_ops.reviewapp.diff import Piece, char_diff, unusual_spaces


def test_whitespace_is_drawn_where_a_reader_could_not_see_it() -> None:
    # a fix that only trims: the spaces it takes off are shown, and marked gone
    seen, proposed = char_diff(" ann@x.com\t", "ann@x.com")
    assert seen == [Piece("gone", "·"), Piece("same", "ann@x.com"), Piece("gone", "→")]
    assert proposed == [Piece("same", "ann@x.com")]
    # in the merge table a name reads as a name; edges, doubled spaces, tabs and no-break spaces show
    assert unusual_spaces("Ann Lee") == "Ann Lee"
    assert unusual_spaces(" Ann  Lee\u00a0") == "·Ann··Lee⍽"
    assert unusual_spaces("  ") == "··"


def test_a_character_nobody_can_see_is_drawn_by_its_code_point() -> None:
    # a fix that only drops a zero-width space, a byte-order mark or a narrow no-break space would
    # otherwise show the same text twice
    seen, proposed = char_diff("\ufeffAnn\u200b Lee\u202f", "Ann Lee")
    assert [p.text for p in seen if p.kind == "gone"] == ["⟨U+FEFF⟩", "⟨U+200B⟩", "⟨U+202F⟩"]
    assert "".join(p.text for p in proposed) == "Ann·Lee"
    assert unusual_spaces("Ann\u200bLee") == "Ann⟨U+200B⟩Lee" and unusual_spaces("Ann Lee") == "Ann Lee"
