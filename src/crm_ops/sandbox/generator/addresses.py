"""Phones and postal addresses valid for each record's country, drawn from a seed's random stream: many
rows by polars in one pass, a few (one record's copy at a time) in Python, the same draws and text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.columns import _pick

Rng = np.random.Generator
_FEW = 32  # up to this many rows, a value maker's text is built in Python: a polars query costs more


def _text_of(parts: Sequence[str | tuple[np.ndarray, int]]) -> np.ndarray:
    """Strings joined from constant texts and integer columns (each zero-padded to its width), built by
    polars in one pass rather than numpy's per-element string functions (a few rows: in Python, the same
    text without a query's fixed cost)."""
    rows = next((len(part[0]) for part in parts if not isinstance(part, str)), 0)
    if rows <= _FEW:
        columns = [
            [part] * rows if isinstance(part, str) else [str(v).zfill(part[1]) for v in part[0].tolist()]
            for part in parts
        ]
        out = np.empty(rows, dtype=object)
        out[:] = ["".join(pieces) for pieces in zip(*columns, strict=True)]
        return out
    exprs = [
        pl.lit(part)
        if isinstance(part, str)
        else pl.lit(pl.Series(part[0])).cast(pl.String).str.zfill(part[1])
        for part in parts
    ]
    return pl.select(pl.concat_str(exprs)).to_series().to_numpy()


def _phones(rng: Rng, countries: np.ndarray) -> np.ndarray:
    """E.164 numbers valid for each record's country (patterns checked against phonenumbers in the tests).

    Every country's random parts are drawn for all rows (so the stream, and the data, stay those of a
    seed); only each country's own rows are turned into text."""
    n = len(countries)
    exchange = rng.integers(200, 1000, n)
    exchange = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange)
    line4 = rng.integers(0, 10**4, n)
    us_area = np.asarray((212, 415, 312, 512, 206, 617, 303, 404, 305, 503))[rng.integers(0, 10, n)]
    ca_area = np.asarray((416, 604, 514, 403))[rng.integers(0, 4, n)]
    gb = rng.integers(0, 10**7, n)
    de = rng.integers(20_000_000, 100_000_000, n)
    fr = rng.integers(0, 10**8, n)
    es = rng.integers(0, 10**7, n)
    nl = rng.integers(2_000_000, 10_000_000, n)
    au_digit = np.asarray((8, 9))[rng.integers(0, 2, n)]
    au = rng.integers(0, 10**7, n)
    by_country: dict[str, Callable[[Any], Sequence[str | tuple[Any, int]]]] = {  # rows: a mask or one row
        "US": lambda m: ("+1", (us_area[m], 3), (exchange[m], 3), (line4[m], 4)),
        "CA": lambda m: ("+1", (ca_area[m], 3), (exchange[m], 3), (line4[m], 4)),
        "GB": lambda m: ("+44207", (gb[m], 7)),
        "DE": lambda m: ("+4930", (de[m], 8)),
        "FR": lambda m: ("+331", (fr[m], 8)),
        "ES": lambda m: ("+3491", (es[m], 7)),
        "NL": lambda m: ("+3120", (nl[m], 7)),
        "AU": lambda m: ("+612", (au_digit[m], 1), (au[m], 7)),
    }
    out = np.empty(n, dtype=object)
    if n <= _FEW:  # a few rows: each formatted in Python, the same text as below
        for row, code in enumerate(countries.tolist()):
            if code in by_country:
                out[row] = "".join(
                    part if isinstance(part, str) else f"{int(part[0]):0{part[1]}d}"
                    for part in by_country[code](row)
                )
        return out
    for code, parts in by_country.items():
        mask = countries == code
        if mask.any():
            out[mask] = _text_of(parts(mask))
    return out


def _postal(rng: Rng, patterns: np.ndarray) -> np.ndarray:
    """Each ``#`` of a pattern a random digit, each ``A`` a random letter (first four of each)."""
    if len(patterns) <= _FEW:
        return _postal_few(rng, patterns)
    out = pl.Series(patterns.astype(str))
    for ch, alphabet in (("#", "0123456789"), ("A", "ABCDEFGHJKLMNPRSTUVWXY")):
        for _ in range(4):
            has = out.str.contains(ch, literal=True)
            count = int(has.sum())
            if not count:
                break
            letters = np.asarray(list(alphabet))[rng.integers(0, len(alphabet), count)]
            filled = (
                out.filter(has)
                .to_frame("p")
                .select(pl.col("p").str.replace(ch, pl.lit(pl.Series(letters)), literal=True, n=1))
            )
            out = out.scatter(has.arg_true(), filled.to_series())
    return out.to_numpy().astype(object)


def _postal_few(rng: Rng, patterns: np.ndarray) -> np.ndarray:
    """``_postal`` of a few patterns in Python: the same draws from ``rng``, the same codes."""
    codes = [str(p) for p in patterns.tolist()]
    for ch, alphabet in (("#", "0123456789"), ("A", "ABCDEFGHJKLMNPRSTUVWXY")):
        for _ in range(4):
            has = [i for i, code in enumerate(codes) if ch in code]
            if not has:
                break
            letters = rng.integers(0, len(alphabet), len(has)).tolist()
            for i, letter in zip(has, letters, strict=True):
                codes[i] = codes[i].replace(ch, alphabet[letter], 1)
    out = np.empty(len(codes), dtype=object)
    out[:] = codes
    return out


def _places(rng: Rng, countries: np.ndarray) -> dict[str, np.ndarray]:
    n = len(countries)
    city, state, pattern = (np.empty(n, dtype=object) for _ in range(3))
    if n <= _FEW:  # a few rows: the same draws, without a mask a country
        codes = countries.tolist()
        for code, options in w.CITIES.items():
            rows = [row for row, c in enumerate(codes) if c == code]
            if rows:
                for row, i in zip(rows, rng.integers(0, len(options), len(rows)).tolist(), strict=True):
                    city[row], state[row], pattern[row] = options[i][:3]
        numbers = rng.integers(1, 2000, n).tolist()
        streets = _pick(rng, w.STREETS, n).tolist()
        street = np.empty(n, dtype=object)
        street[:] = [f"{number} {name}" for number, name in zip(numbers, streets, strict=True)]
        return {"street": street, "city": city, "state": state, "postal": _postal(rng, pattern)}
    for code, options in w.CITIES.items():
        mask = countries == code
        k = int(mask.sum())
        if not k:
            continue
        idx = rng.integers(0, len(options), k)
        for column, part in ((city, 0), (state, 1), (pattern, 2)):
            column[mask] = np.asarray([option[part] for option in options], dtype=object)[idx]
    numbers = pl.Series(rng.integers(1, 2000, n)).cast(pl.String)
    streets = pl.Series(_pick(rng, w.STREETS, n).tolist(), dtype=pl.String)
    street = pl.select(pl.concat_str(pl.lit(numbers), pl.lit(" "), pl.lit(streets))).to_series().to_numpy()
    return {"street": street, "city": city, "state": state, "postal": _postal(rng, pattern)}


def _countries(rng: Rng, n: int) -> np.ndarray:
    codes = list(w.COUNTRY_WEIGHTS)
    return np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=list(w.COUNTRY_WEIGHTS.values()))]
