"""Dates for the ``date`` comparator: date, datetime and text columns read as calendar dates.

A date column is used as it is, a datetime column by its calendar date (in its time zone). Text is read
in these forms (surrounding spaces ignored, an empty value missing):

- ISO: ``2024-03-05``, with a time and offset after it (``2024-03-05T10:00:00Z``; the date as written);
- the year first with ``/`` or ``.``: ``2024/03/05``, ``2024.03.05``;
- a month's English name or its abbreviation: ``5 Mar 2024``, ``05-Mar-2024``, ``5 March 2024``,
  ``Mar 5, 2024``, ``March 5th 2024``;
- day and month before the year (``05/03/2024``, ``05.03.2024``, ``05-03-2024``) only with the rule's
  ``date_order``: ``dmy`` (5 March) or ``mdy`` (3 May). Without it such a value is refused: it reads
  two ways, and guessing would pair the wrong records silently.

A value none of these reads (or an impossible date, 2024-02-30) is refused: ``unreadable`` gives them
and ``refusal`` the ``ConfigError`` naming the field, how many and an example, raised before scoring.
"""

from __future__ import annotations

import polars as pl

from crm_ops.errors import ConfigError

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")]
    )
    for name in names
}  # fmt: skip
_ISO = r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$"
_YEAR_LAST = r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$"
_DAY_NAME = r"^(\d{1,2})(?:st|nd|rd|th)?[ -]([A-Za-z]+)\.?,?[ -](\d{4})$"
_NAME_DAY = r"^([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$"


def _part(text: pl.Expr, pattern: str, group: int) -> pl.Expr:
    return text.str.extract(pattern, group)


def _month(name: pl.Expr) -> pl.Expr:
    return name.str.to_lowercase().replace_strict(
        {k: str(v) for k, v in _MONTHS.items()}, default=None, return_dtype=pl.String
    )


def _read(text: pl.Expr, order: str | None) -> pl.Expr:
    """The date each (stripped) text gives, null where none of the forms reads it."""
    first, second = _part(text, _YEAR_LAST, 1), _part(text, _YEAR_LAST, 2)
    day_month = {"dmy": (first, second), "mdy": (second, first)}.get(order or "")
    year = pl.coalesce(
        _part(text, _ISO, 1), _part(text, _DAY_NAME, 3), _part(text, _NAME_DAY, 3),
        *([_part(text, _YEAR_LAST, 3)] if day_month else []),
    )  # fmt: skip
    month = pl.coalesce(
        _part(text, _ISO, 2), _month(_part(text, _DAY_NAME, 2)), _month(_part(text, _NAME_DAY, 1)),
        *([day_month[1]] if day_month else []),
    )  # fmt: skip
    day = pl.coalesce(
        _part(text, _ISO, 3), _part(text, _DAY_NAME, 1), _part(text, _NAME_DAY, 2),
        *([day_month[0]] if day_month else []),
    )  # fmt: skip
    iso = pl.concat_str([year, month.str.zfill(2), day.str.zfill(2)], separator="-")
    return iso.str.to_date("%Y-%m-%d", strict=False)


def _texts(values: pl.Series) -> pl.DataFrame:
    """The distinct non-empty texts of ``values``, stripped (``t``), with their dates (``d``)."""
    stripped = values.cast(pl.String).str.strip_chars()
    return stripped.filter(stripped.is_not_null() & (stripped != "")).unique().to_frame("t")


def as_dates(values: pl.Series, order: str | None = None) -> pl.Series:
    """``values`` (date, datetime or text) as dates; text the module's forms do not read is null (see
    ``unreadable`` to refuse it instead). Text is read once per distinct value."""
    if values.dtype == pl.Date:
        return values
    if isinstance(values.dtype, pl.Datetime):
        return values.dt.date()
    if values.dtype not in (pl.String, pl.Categorical, pl.Null):
        raise TypeError(f"not a date, datetime or text column: {values.dtype}")
    table = _texts(values).with_columns(_read(pl.col("t"), order).alias("d"))
    keyed = values.cast(pl.String).str.strip_chars().alias("t").to_frame()
    return keyed.join(table, on="t", how="left", maintain_order="left")["d"].alias(values.name)


def unreadable(values: pl.Series, order: str | None = None) -> pl.Series:
    """The distinct texts of ``values`` that are not dates in any of the module's forms (empty for a
    date or datetime column)."""
    if values.dtype == pl.Date or isinstance(values.dtype, pl.Datetime):
        return pl.Series("t", [], dtype=pl.String)
    return _texts(values).filter(_read(pl.col("t"), order).is_null())["t"].sort()


def refusal(
    where: str, column: str, bad: pl.Series, order: str | None, count: int | None = None
) -> ConfigError:
    """The error for a ``date`` rule whose column ``column`` holds the texts ``bad`` (``unreadable``;
    ``count`` of them when ``bad`` holds a few examples only)."""
    examples = ", ".join(repr(str(v)) for v in bad.head(3))
    two_ways = bad.str.contains(_YEAR_LAST)
    hints = []
    if order is None and two_ways.any():
        hints.append(
            "day and month before the year read two ways (05/03/2024: 5 March or 3 May): set the rule's "
            "date_order to 'dmy' or 'mdy'"
        )
    if order is not None or not two_ways.all():
        hints.append(
            "dates are read as ISO (2024-03-05, 2024-03-05T10:00:00Z), 2024/03/05, 5 Mar 2024 or Mar 5, 2024"
        )
    many = bad.len() if count is None else count
    return ConfigError(
        f"{where}: {many} value(s) of column {column!r} cannot be read as dates (e.g. {examples}); "
        + "; ".join(hints)
    )


def checked_dates(values: pl.Series, order: str | None, where: str, column: str) -> pl.Series:
    """``as_dates`` of a ``date`` rule's column, refusing (``ConfigError``) text that is not a date and
    a column that is neither dates nor text (named by ``where`` and ``column``)."""
    if not (
        values.dtype in (pl.Date, pl.String, pl.Categorical, pl.Null) or isinstance(values.dtype, pl.Datetime)
    ):
        raise ConfigError(
            f"{where}: the date comparator reads date, datetime or text columns; {column!r} is {values.dtype}"
        )
    bad = unreadable(values, order)
    if bad.len():
        raise refusal(where, column, bad, order)
    return as_dates(values, order)
