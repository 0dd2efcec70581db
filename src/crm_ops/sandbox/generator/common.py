"""Shared pieces of the generator: vectorised value makers and the state every stage reads."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.config import SeedConfig

Rng = np.random.Generator
_FEW = 32  # up to this many rows, a value maker's text is built in Python: a polars query costs more


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    )


def _pick(rng: Rng, options: Sequence[Any], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _pick_series(rng: Rng, options: Sequence[Any], n: int) -> pl.Series:
    """``_pick`` as a polars column: the same draw from ``rng``, without a Python object a row."""
    return pl.Series(list(options)).gather(rng.integers(0, len(options), n))


def _where(cond: np.ndarray, then: Any, otherwise: Any) -> pl.Series:
    """``np.where`` over polars columns (or scalars): ``then`` where ``cond``, else ``otherwise``."""
    return pl.select(
        pl.when(pl.lit(pl.Series(cond))).then(pl.lit(then)).otherwise(pl.lit(otherwise))
    ).to_series()


def rows_but(n: int, taken: Collection[int] | np.ndarray) -> np.ndarray:
    """The rows ``0..n-1`` not in ``taken``, in order (``np.setdiff1d`` without its sort)."""
    free = np.ones(n, dtype=bool)
    free[np.fromiter(taken, dtype=np.int64, count=len(taken))] = False
    return np.flatnonzero(free)


def free_rows(ids: np.ndarray | pl.Series, taken: Collection[str]) -> np.ndarray:
    """The rows whose id (as text) is not in ``taken``, in order."""
    text = pl.Series(ids).cast(pl.String)
    return np.flatnonzero(~text.is_in(pl.Series(list(taken), dtype=pl.String).implode()).to_numpy())


def numbered(template: str, start: int, n: int, width: int) -> pl.Series:
    """``template`` with ``{}`` the numbers ``start..start+n-1`` zero-padded to ``width``, as a column."""
    head, _, tail = template.partition("{}")
    numbers = pl.int_range(start, start + n, eager=True).cast(pl.String).str.zfill(width)
    return head + numbers + tail


def _digits(rng: Rng, n: int, width: int, low: int = 0) -> np.ndarray:
    return np.char.zfill(rng.integers(low, 10**width, n).astype(str), width)


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
    by_country: dict[str, Callable[[np.ndarray], Sequence[str | tuple[np.ndarray, int]]]] = {
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
                out[row] = _text_of(by_country[code](np.asarray([row])))[0]
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


def sf_audit(created: np.ndarray, modified: np.ndarray, user: Any) -> dict[str, Any]:
    """A Salesforce record's audit fields: made and last changed at these times by ``user``."""
    return {
        "CreatedDate": created,
        "CreatedById": user,
        "LastModifiedDate": modified,
        "LastModifiedById": user,
        "SystemModstamp": modified,
    }


def _frame(obj_schema: dict[str, pl.DataType], columns: dict[str, Any], n: int) -> pl.DataFrame:
    data = {}
    for name, dtype in obj_schema.items():
        value = columns.get(name)
        if value is None:
            data[name] = pl.repeat(None, n, dtype=dtype, eager=True).alias(name)
        elif isinstance(value, pl.Series):
            data[name] = value.alias(name).cast(dtype)
        elif np.isscalar(value):
            scalar = value.item() if isinstance(value, np.generic) else value
            data[name] = pl.repeat(scalar, n, eager=True).alias(name).cast(dtype)
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


def blank_defect(
    kind: str, system: str, obj: str, record_id: str, field: str, correct: Any
) -> dict[str, Any]:
    """A manifest defect: ``field`` of this record left blank (``correct``: the value it had, if any)."""
    return defect(kind, system, obj, record_id, field, None, correct)


def defect(
    kind: str, system: str, obj: str, record_id: str, field: str, bad: Any, correct: Any
) -> dict[str, Any]:
    """A manifest defect: ``field`` of this record holds ``bad`` where ``correct`` (if known) belongs."""
    return {
        "system": system,
        "object": obj,
        "record_id": record_id,
        "field": field,
        "kind": kind,
        "bad_value": None if bad is None else str(bad),
        "correct_value": None if correct is None else str(correct),
    }


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

    def _seeded(self, n: int, share: float) -> int:
        """How many of ``n`` records get a defect of this share (none when the seed asks for none)."""
        return max(1, int(n * share)) if self.cfg.defect_rate > 0 else 0

    def _deleted_pair(
        self,
        rng: Rng,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        objects: tuple[str, str],
        share: float,
        keep: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """Archive ``share`` of HubSpot ``objects[1]``'s records that carry no defect and are not in ``keep``
        (archived in the last weeks), and list those with Salesforce ``objects[0]``'s deleted ones, as the
        manifest's deleted records."""
        sf_object, hs_object = objects
        frame = hs[hs_object]
        ids = frame["id"].to_numpy()
        taken = {d["record_id"] for d in self.defects} | set(keep)
        free = free_rows(ids, taken)
        rows = sorted(rng.choice(free, max(1, int(len(ids) * share)), replace=False).tolist())
        end = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        days = rng.integers(1, 20, len(rows))
        stamps = [end - timedelta(days=int(d)) for d in days.tolist()]
        at = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[ms]")
        at[rows] = np.datetime64(end.replace(tzinfo=None), "ms") - (days * 86_400_000).astype(
            "timedelta64[ms]"
        )
        hs[hs_object] = frame.with_columns(
            frame["archived"].cast(pl.Boolean).scatter(rows, True),
            pl.Series("archivedAt", at).dt.replace_time_zone("UTC"),
        )
        gone = sf[sf_object].filter(pl.col("IsDeleted")).select("Id", "SystemModstamp")
        return [
            {"system": "hubspot", "object": hs_object, "record_id": str(ids[r]), "deleted_at": s}
            for r, s in zip(rows, stamps, strict=True)
        ] + [
            {"system": "salesforce", "object": sf_object, "record_id": i, "deleted_at": m}
            for i, m in gone.iter_rows()
        ]

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
        # the mailbox first.last, folded to ASCII once per distinct name
        firsts = {f: _ascii(f).lower() for f in set(first.tolist())}
        lasts = {la: _ascii(la).lower().replace(".", "") for la in set(last.tolist())}
        local = (
            pl.select(
                pl.concat_str(
                    pl.lit(pl.Series(first, dtype=pl.String)).replace_strict(firsts),
                    pl.lit("."),
                    pl.lit(pl.Series(last, dtype=pl.String)).replace_strict(lasts),
                )
            )
            .to_series()
            .to_numpy()
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
        """``local@domain``, the second and later holders of one address numbered (``ann.lee1@...``)."""
        frame = pl.DataFrame(
            {"l": pl.Series(local, dtype=pl.String), "d": pl.Series(domain, dtype=pl.String)}
        )
        frame = frame.with_columns(e=pl.concat_str("l", pl.lit("@"), "d"))
        # most addresses are held once: only the shared ones are ranked among their holders
        shared = frame["e"].is_duplicated()
        rank = pl.Series(np.zeros(frame.height, dtype=np.int64))
        if shared.any():
            rows = shared.arg_true()
            among = frame["e"].gather(rows).to_frame().select(pl.int_range(pl.len()).over("e"))
            rank = rank.scatter(rows, among.to_series())
        numbered = pl.concat_str("l", pl.lit(rank).cast(pl.String), pl.lit("@"), "d")
        return frame.select(pl.when(pl.lit(rank) > 0).then(numbered).otherwise("e")).to_series().to_numpy()


def copy_pairs(
    system: str, obj: str, rows: Sequence[int], kinds: Sequence[str], ids: pl.Series, new_ids: Sequence[Any]
) -> list[dict[str, Any]]:
    """The manifest's duplicates rows of records entered twice: for each original (row ``rows[i]`` of
    ``obj``, id ``ids[row]``) and its copy (``new_ids[i]``, differing as ``kinds[i]`` says), one cluster."""
    return [
        {
            "system": system,
            "object": obj,
            "cluster_id": f"{system}-{obj}-{row}",
            "record_id": rid,
            "kind": kind,
            "is_original": is_original,
        }
        for row, kind, new_id in zip(rows, kinds, new_ids, strict=True)
        for is_original, rid in ((True, str(ids[row])), (False, str(new_id)))
    ]
