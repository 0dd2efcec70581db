"""What a record is called in a plan (``label``): a person's name and e-mail, an account's name and
domain, an opportunity's name and amount, a column at a time (``labels_of``, over ``column_texts`` of
the label columns). CRM values are data
here: they are joined into labels as text and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from crm_ops.plan import encode

LABEL_COLUMNS = ("first_name", "last_name", "email", "name", "domain", "website", "amount", "company", "role")
# what Python's str.split() splits on: the text of a label is its words joined by one space
SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
SPACES = "[" + "".join(f"\\u{{{ord(c):04x}}}" for c in SPACE) + "]+"


def column_texts(values: pl.Series) -> pl.Series:
    """Each value as text: its words (``str.split``) joined by one space, null when there are none."""
    if values.dtype == pl.Null:
        return pl.Series(values.name, [None] * values.len(), pl.String)
    if values.dtype != pl.String:
        values = encode.by_distinct(values, values.is_not_null(), str)
    joined = values.str.replace_all(SPACES, " ").str.strip_chars(" ")
    return pl.select(pl.when(pl.lit(joined) != "").then(pl.lit(joined))).to_series().alias(values.name)


def labels_of(entity: str, got: Mapping[str, pl.Series], amount: pl.Series | None) -> pl.Series:
    """Each record's label, from its label columns' texts (``column_texts``) and its amount: a person's
    "first last <email>", an account's "name (domain or website)", an opportunity's "name (1,234.50)", or
    what the record has of them; a record with none says so ("(no name)"); a contact role's role; a
    declared entity's name, when it maps one."""
    col = {c: pl.lit(v) for c, v in got.items()}

    def either(both: pl.Expr, first: pl.Expr, second: pl.Expr, none: str | None) -> pl.Expr:
        return (
            pl.when(first.is_not_null() & second.is_not_null())
            .then(both)
            .otherwise(pl.coalesce(first, second, pl.lit(none, pl.String)))
        )

    if entity in ("Contact", "Lead", "Owner"):
        person = pl.concat_str(col["first_name"], col["last_name"], separator=" ", ignore_nulls=True)
        person = pl.when(person != "").then(person)
        email = col["email"]
        label = either(
            pl.concat_str(person, pl.lit(" <"), email, pl.lit(">")), person, email, "(no name, no e-mail)"
        )
    elif entity == "Account":
        name, where = col["name"], pl.coalesce(col["domain"], col["website"])
        label = either(pl.concat_str(name, pl.lit(" ("), where, pl.lit(")")), name, where, "(no name)")
    elif entity == "Opportunity":
        shown = (
            encode.by_distinct(amount, amount.is_not_null(), lambda v: f"{v:,.2f}".removesuffix(".00"))
            if amount is not None
            else pl.Series([None] * len(got["name"]), dtype=pl.String)
        )
        title = col["name"]
        label = either(
            pl.concat_str(title, pl.lit(" ("), pl.lit(shown), pl.lit(")")), title, pl.lit(shown), "(no name)"
        )
    elif entity == "ContactRole":
        label = col["role"]
    else:
        label = col["name"]  # a declared entity (a custom object): its name, when it maps one
    return (
        pl.select(label.alias("label")).to_series() if len(got["name"]) else pl.Series("label", [], pl.String)
    )
