"""E-mail addresses: valid, written plainly, at the account's domain; typos repaired.

email-validator costs ~36 us a value at 1M rows, so a plain-shaped address is settled by a vectorised
expression and the library sees only the distinct values that expression cannot decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import polars as pl
from email_validator import EmailNotValidError, validate_email

from crm_ops.rules.library.lookups import FREEMAIL, account_domains
from crm_ops.rules.library.registry import as_text, check, field_of, fixer, proposals
from crm_ops.values.domains import address_text, bare_domain_expr, email_domain_expr
from crm_ops.values.junk import junk_where

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PLAIN_EMAIL = rf"^[a-z0-9][a-z0-9._%+-]*@{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,}}$"
_PLAIN_EMAIL_RE = re.compile(_PLAIN_EMAIL.removesuffix("$") + r"\Z")  # Python's $ also takes a final \n


@lru_cache(maxsize=200_000)
def email_ok(value: str) -> bool:
    """Syntax check by email-validator, no network."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _email_states(frame: pl.DataFrame, column: str, ctx: RuleContext) -> pl.DataFrame:
    """Per row: normalised value and whether it is valid; email-validator only on the odd distinct ones."""
    key = ("email_states", id(frame), column)
    cached = ctx.cache.get(key)
    # keyed by identity, and holding the frame itself so its id cannot be reused by another frame
    if isinstance(cached, tuple) and cached[0] is frame and isinstance(cached[1], pl.DataFrame):
        return cached[1]
    raw = frame.get_column(column).cast(pl.String)
    norm = raw.str.strip_chars().str.to_lowercase()
    plain = norm.str.contains(_PLAIN_EMAIL).fill_null(False)
    odd = norm.filter(~plain & norm.is_not_null()).unique()
    good = [v for v in odd.to_list() if email_ok(v)]
    valid = plain | norm.is_null() | norm.is_in(good)
    out = pl.DataFrame({"raw": raw, "norm": norm, "valid": valid})
    ctx.cache[key] = (frame, out)
    return out


@check("email_valid")
def email_valid(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when the address, trimmed and lowercased, is still not a valid address (junk excluded)."""
    column = field_of(params)
    states = _email_states(frame, column, ctx)
    ok = states["valid"] | states["raw"].is_null()
    return ok | junk_where(frame, column, ~ok)


@check("email_normalised")
def email_normalised(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when a valid address has stray spaces or capitals."""
    states = _email_states(frame, field_of(params), ctx)
    return (~states["valid"]) | states["raw"].is_null() | (states["raw"] == states["norm"])


@fixer("email_normalise")
def email_normalise(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Trim and lowercase."""
    return proposals(rows, as_text(field_of(params)).str.strip_chars().str.to_lowercase(), 0.99)


@fixer("email_repair")
def email_repair(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Undo the usual typos: doubled @, comma for dot, spaces, a lost @ (found by the account's domain)."""
    column = field_of(params)
    domains = account_domains(ctx)
    own = [c for c in ("website", "domain") if c in rows.columns]
    frame = rows
    if "account_id" in rows.columns and domains.height:
        frame = frame.join(domains, on="account_id", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("account_domain"))
    hints = pl.concat_list([pl.col("account_domain"), *[bare_domain_expr(pl.col(c)) for c in own]])
    out_values: list[str | None] = []
    out_conf: list[float] = []
    known: frozenset[str] | None = None  # every domain of the base: looked up for a lost @ only
    names = [
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String)
        for c in ("first_name", "last_name")
    ]
    for value, hint_list, first, last in frame.select(as_text(column), hints.alias("h"), *names).iter_rows():
        hinted = [h for h in (hint_list or []) if h]
        if value and "@" not in value:
            text = re.sub(r"\s+", "", value.strip().lower())
            known = _known_domains(ctx) if known is None else known
            hinted += _domain_suffixes(text, known)
            hinted += _after_mailbox(text, first, last)
        fixed, conf = _repair_email(value or "", hinted)
        out_values.append(fixed)
        out_conf.append(conf)
    return pl.DataFrame(
        {
            "record_id": frame["id"],
            "proposed_value": pl.Series(out_values, dtype=pl.String),
            "confidence": out_conf,
        }
    )


def _known_domains(ctx: RuleContext) -> frozenset[str]:
    """Every domain the base writes from or lives at: e-mail domains and account domains, both CRMs."""
    cached = ctx.cache.get("known_domains")
    if isinstance(cached, frozenset):
        return cached
    series: list[pl.Series] = []
    for system in ctx.systems():
        for entity, frame in ctx.frames(system).items():
            if "email" in frame.columns and entity != "Owner":
                series.append(frame.select(email_domain_expr("email").alias("d"))["d"])
        series.append(account_domains(ctx.for_system(system))["account_domain"].alias("d"))
    known = frozenset(pl.concat(series).drop_nulls().unique().to_list()) if series else frozenset()
    ctx.cache["known_domains"] = known
    return known


def _domain_suffixes(text: str, known: frozenset[str]) -> list[str]:
    """Known domains the text ends with (longest first), leaving a mailbox before them."""
    found = [text[i:] for i in range(1, len(text)) if text[i:] in known]
    return sorted(found, key=len, reverse=True)


def _after_mailbox(text: str, first: str | None, last: str | None) -> list[str]:
    """The domain left once the person's usual mailbox (first.last, flast...) is taken off the front."""
    if not first or not last:
        return []
    f, la = address_text(first), address_text(last)
    out = []
    for mailbox in (f"{f}.{la}", f"{f}_{la}", f"{f}{la}", f"{f[:1]}{la}", f"{f[:1]}.{la}", f"{la}.{f}"):
        rest = text[len(mailbox) :]
        if text.startswith(mailbox) and "." in rest and re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", rest):
            out.append(rest)
    return out


def _repair_email(value: str, domains: list[str]) -> tuple[str | None, float]:
    text = re.sub(r"\s+", "", value.strip().lower())
    candidates = [
        re.sub(r"@+", "@", text),
        text.replace(",", "."),
        re.sub(r"@+", "@", text.replace(",", ".")),
    ]
    for domain in domains:
        if "@" not in text and text.endswith(domain) and len(text) > len(domain):
            candidates.insert(0, f"{text[: -len(domain)]}@{domain}")
    for candidate in candidates:
        # a plain-shaped address is valid without asking email-validator, as ``email_valid`` judges it
        if candidate != value and (_PLAIN_EMAIL_RE.match(candidate) or email_ok(candidate)):
            return candidate, 0.9 if "@" in text else 0.75
    return None, 0.0


@check("email_matches_account_domain")
def email_matches_account_domain(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Series:
    """Fails when a contact's business address is at another company's domain than its account's."""
    column = field_of(params)
    states = _email_states(frame, column, ctx)
    domains = account_domains(ctx)
    joined = frame.select("account_id", email_domain_expr(column).alias("d"))
    joined = joined.join(domains, on="account_id", how="left", maintain_order="left")
    d, account = pl.col("d"), pl.col("account_domain")
    ok = joined.select(
        (
            account.is_null()
            | d.is_null()
            | d.is_in(list(FREEMAIL))
            | (d == account)
            | d.str.ends_with(pl.lit(".") + account)
        ).fill_null(True)
    ).to_series()
    # a placeholder address passes too: asked only of the few rows that fail otherwise
    return ok | junk_where(frame, column, ~ok) | ~states["valid"]


@fixer("email_to_account_domain")
def email_to_account_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Keep the mailbox, take the account's domain (a guess: low confidence)."""
    column = field_of(params)
    joined = rows.join(account_domains(ctx), on="account_id", how="left")
    local = (
        as_text(column).str.strip_chars().str.to_lowercase().str.split_exact("@", 1).struct.field("field_0")
    )
    return proposals(joined, pl.concat_str([local, pl.lit("@"), pl.col("account_domain")]), 0.6)
