"""Shared pieces of the generator: vectorised value makers and the state every stage reads."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.config import SeedConfig

Rng = np.random.Generator


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    )


def _pick(rng: Rng, options: Sequence[Any], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _digits(rng: Rng, n: int, width: int, low: int = 0) -> np.ndarray:
    return np.char.zfill(rng.integers(low, 10**width, n).astype(str), width)


def _phones(rng: Rng, countries: np.ndarray) -> np.ndarray:
    """E.164 numbers valid for each record's country (patterns checked against phonenumbers in the tests)."""
    n = len(countries)
    exchange = rng.integers(200, 1000, n)
    exchange_text = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange).astype(str)
    line4 = _digits(rng, n, 4)
    us = np.char.add(
        np.char.add(
            np.char.add("+1", _pick(rng, (212, 415, 312, 512, 206, 617, 303, 404, 305, 503), n).astype(str)),
            exchange_text,
        ),
        line4,
    )
    ca = np.char.add(
        np.char.add(np.char.add("+1", _pick(rng, (416, 604, 514, 403), n).astype(str)), exchange_text), line4
    )
    by_country = {
        "US": us,
        "CA": ca,
        "GB": np.char.add("+44207", _digits(rng, n, 7)),
        "DE": np.char.add("+4930", rng.integers(20_000_000, 100_000_000, n).astype(str)),
        "FR": np.char.add("+331", _digits(rng, n, 8)),
        "ES": np.char.add("+3491", _digits(rng, n, 7)),
        "NL": np.char.add("+3120", rng.integers(2_000_000, 10_000_000, n).astype(str)),
        "AU": np.char.add(np.char.add("+612", _pick(rng, ("8", "9"), n).astype(str)), _digits(rng, n, 7)),
    }
    out = np.empty(n, dtype=object)
    for code, numbers in by_country.items():
        mask = countries == code
        out[mask] = numbers[mask]
    return out


def _postal(rng: Rng, patterns: np.ndarray) -> np.ndarray:
    out = patterns.astype("U12")
    for ch, alphabet in (("#", "0123456789"), ("A", "ABCDEFGHJKLMNPRSTUVWXY")):
        for _ in range(4):
            has = np.char.find(out, ch) >= 0
            if not has.any():
                break
            letters = np.asarray(list(alphabet))[rng.integers(0, len(alphabet), int(has.sum()))]
            out[has] = [p.replace(ch, c, 1) for p, c in zip(out[has], letters, strict=True)]
    return out.astype(object)


def _places(rng: Rng, countries: np.ndarray) -> dict[str, np.ndarray]:
    n = len(countries)
    city, state, pattern = (np.empty(n, dtype=object) for _ in range(3))
    for code, options in w.CITIES.items():
        mask = countries == code
        k = int(mask.sum())
        if not k:
            continue
        idx = rng.integers(0, len(options), k)
        city[mask] = [options[i][0] for i in idx]
        state[mask] = [options[i][1] for i in idx]
        pattern[mask] = [options[i][2] for i in idx]
    street = np.char.add(
        np.char.add(rng.integers(1, 2000, n).astype(str), " "), _pick(rng, w.STREETS, n).astype(str)
    )
    return {"street": street.astype(object), "city": city, "state": state, "postal": _postal(rng, pattern)}


def _countries(rng: Rng, n: int) -> np.ndarray:
    codes = list(w.COUNTRY_WEIGHTS)
    return np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=list(w.COUNTRY_WEIGHTS.values()))]


def _timestamps(rng: Rng, today: date, n: int, max_age_days: int, min_age_days: float = 0.01) -> np.ndarray:
    end = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    ages = rng.uniform(min_age_days, max_age_days, n)
    return np.datetime64(end.replace(tzinfo=None), "ms") - (ages * 86_400_000).astype("timedelta64[ms]")


def _frame(obj_schema: dict[str, pl.DataType], columns: dict[str, Any], n: int) -> pl.DataFrame:
    data = {}
    for name, dtype in obj_schema.items():
        value = columns.get(name)
        if value is None:
            data[name] = pl.repeat(None, n, dtype=dtype, eager=True).alias(name)
        elif isinstance(value, pl.Series):
            data[name] = value.alias(name).cast(dtype)
        elif np.isscalar(value):
            data[name] = pl.Series(name, [value] * n).cast(dtype)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind == "M":
                data[name] = (
                    pl.Series(name, arr).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(dtype)
                )
            else:
                data[name] = pl.Series(
                    name, arr.tolist() if arr.dtype == object else arr, dtype=None, strict=False
                ).cast(dtype)
    return pl.DataFrame(data)


class GenState:
    """What every stage of the generator shares: the config, the random stream, the truth so far, and
    the clean records' key arrays (``acc``, ``con``, ``lead``, ``opp``) later stages build on."""

    cfg: SeedConfig
    rng: Rng
    today: date
    sizes: dict[str, int]
    defects: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    drift: list[dict[str, Any]]
    matches: list[tuple[str, str, str, str]]
    acc: dict[str, Any]
    con: dict[str, Any]
    lead: dict[str, Any]
    opp: dict[str, Any]
    active_owners: np.ndarray
    inactive_owners: np.ndarray
    user_ids: np.ndarray
    reserved_accounts: np.ndarray
    deleted_accounts: list[int]
    company_of_account: dict[int, int]
    hs_contact_of: dict[int, int]
    hs_contacts_pos: dict[str, np.ndarray]

    def people(self, n: int, account_index: np.ndarray | None) -> dict[str, np.ndarray]:
        rng = self.rng
        first = _pick(rng, w.FIRST_NAMES, n)
        last = _pick(rng, w.LAST_NAMES, n)
        if account_index is not None:
            domain = self.acc["domain"][account_index]
            country = self.acc["country"][account_index]
        else:
            country = _countries(rng, n)
            domain = None
        local = np.asarray(
            [
                f"{_ascii(f).lower()}.{_ascii(la).lower().replace('.', '')}"
                for f, la in zip(first, last, strict=True)
            ],
            dtype=object,
        )
        return {
            "first": first,
            "last": last,
            "local": local,
            "domain": domain,
            "country": country,
            "places": _places(rng, country),
            "phone": _phones(rng, country),
            "mobile": _phones(rng, country),
            "title": _pick(rng, w.TITLES, n),
        }

    @staticmethod
    def _unique_emails(local: np.ndarray, domain: np.ndarray) -> np.ndarray:
        emails = pl.Series(np.char.add(np.char.add(local.astype(str), "@"), domain.astype(str)))
        rank = pl.DataFrame({"e": emails}).with_columns(r=pl.int_range(pl.len()).over("e"))["r"]
        parts = emails.str.split_exact("@", 1).struct.unnest()
        fixed = pl.when(rank > 0).then(parts["field_0"] + rank.cast(pl.String)).otherwise(parts["field_0"])
        return pl.select(fixed + "@" + parts["field_1"]).to_series().to_numpy()
