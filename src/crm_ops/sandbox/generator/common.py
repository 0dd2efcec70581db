"""Shared pieces of the generator: the state every stage reads, dates, frames and manifest rows (columns
in ``generator.columns``, phones and addresses in ``generator.addresses``)."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.addresses import _countries, _phones, _places
from crm_ops.sandbox.generator.columns import _pick, free_rows
from crm_ops.sandbox.generator.config import SeedConfig

Rng = np.random.Generator


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    )


def _digits(rng: Rng, n: int, width: int, low: int = 0) -> np.ndarray:
    return np.char.zfill(rng.integers(low, 10**width, n).astype(str), width)


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
            scalar: Any = value.item() if isinstance(value, np.generic) else value
            data[name] = pl.select(pl.repeat(scalar, n)).to_series().alias(name).cast(dtype)
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
