"""The checks and fixers the shipped rules (and users' YAML rules) call by name.

A check takes the entity's frame and the run's context and returns a boolean Series or expression:
True where the row passes (a null counts as passing: a missing value is the ``required`` rule's
business). A fixer takes the failing rows and returns, per row, a proposed value and a confidence.

Per-value library calls are what cost at 1M rows (phonenumbers ~47 us, email-validator ~36 us a
value), so every check settles the common shapes with a vectorised polars expression first and hands
the libraries only the distinct values that expression cannot decide.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import phonenumbers
import polars as pl
import pycountry
from email_validator import EmailNotValidError, validate_email

from crm_ops.rules.wordlists import WordLists
from crm_ops.rules.wordlists import shipped as shipped_lists
from crm_ops.schema.entities import live

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext

CheckFn = Callable[[pl.DataFrame, "RuleContext", Mapping[str, Any]], "pl.Series | pl.Expr"]
FixFn = Callable[[pl.DataFrame, "RuleContext", Mapping[str, Any]], pl.DataFrame]
CHECKS: dict[str, CheckFn] = {}
FIXES: dict[str, FixFn] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a named check for YAML rules."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        return fn

    return register


def fixer(name: str) -> Callable[[FixFn], FixFn]:
    """Register a named fixer for YAML rules."""

    def register(fn: FixFn) -> FixFn:
        FIXES[name] = fn
        return fn

    return register


def proposals(rows: pl.DataFrame, proposed: pl.Series | pl.Expr, confidence: float | pl.Expr) -> pl.DataFrame:
    """The fixer result shape: record id, proposed value (string), confidence."""
    conf = confidence if isinstance(confidence, pl.Expr) else pl.lit(confidence)
    value = proposed if isinstance(proposed, pl.Expr) else pl.lit(proposed)
    return rows.select(
        pl.col("id").alias("record_id"),
        value.cast(pl.String).alias("proposed_value"),
        conf.cast(pl.Float64).alias("confidence"),
    )


def _field(params: Mapping[str, Any]) -> str:
    return str(params["field"])


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


# ------------------------------------------------------------------------------------- placeholders

# the placeholder lists are data (rules/wordlists.yaml), free-mail domains a maintained package's list
JUNK_WORDS = shipped_lists().junk_words
JUNK_EMAIL_LOCALS = shipped_lists().junk_email_locals
JUNK_EMAIL_DOMAINS = shipped_lists().junk_email_domains
FREEMAIL = shipped_lists().freemail

_SEP = r"[\s().+-]*"
_JUNK_DIGITS = (
    rf"^{_SEP}(?:(?:0{_SEP}){{5,}}|(?:1{_SEP}){{5,}}|(?:9{_SEP}){{5,}}"
    rf"|0?{_SEP}1{_SEP}2{_SEP}3{_SEP}4{_SEP}5{_SEP}6{_SEP}7{_SEP}8{_SEP}9{_SEP}0?{_SEP})$"
)


def junk_mask(values: pl.Expr, lists: WordLists | None = None) -> pl.Expr:
    """True for placeholder values: junk words, keyboard mash, one digit repeated, junk e-mail addresses
    (``lists``: the shipped word lists unless a profile's are given).

    Two anchored regular expressions and one set lookup, so it stays cheap at a million rows.
    """
    words = lists or shipped_lists()
    v = values.cast(pl.String).str.strip_chars().str.to_lowercase()
    # the three tests on the trimmed, lowercased values computed once (an expression naming ``v``
    # three times would compute it three times)
    return v.map_batches(lambda folded: _junk(folded, words), return_dtype=pl.Boolean, is_elementwise=True)


def _junk(folded: pl.Series, words: WordLists) -> pl.Series:
    v = pl.col("v")
    return (
        folded.to_frame("v")
        .select(
            (
                v.is_in(list(words.junk_words))
                | v.str.contains(words.junk_email_pattern)
                | v.str.contains(_JUNK_DIGITS)
            ).fill_null(False)
        )
        .to_series()
    )


def _junk_where(frame: pl.DataFrame, column: str, among: pl.Series) -> pl.Series:
    """``junk_mask`` computed only on the rows where ``among`` is True (False elsewhere)."""
    out = pl.Series([False] * frame.height, dtype=pl.Boolean)
    idx = among.arg_true()
    if idx.len():
        junk = frame[idx].select(junk_mask(pl.col(column))).to_series()
        out = out.scatter(idx, junk)
    return out


@check("not_placeholder")
def not_placeholder(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails on junk values (test, n/a, asdf, noemail@..., 000-000-0000...)."""
    return ~junk_mask(pl.col(_field(params)))


@fixer("clear")
def clear(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Propose emptying the field (a junk value says less than no value)."""
    return proposals(rows, pl.lit(None, pl.String), float(params.get("confidence", 0.9)))


# ------------------------------------------------------------------------------------------- e-mail

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
    column = _field(params)
    states = _email_states(frame, column, ctx)
    ok = states["valid"] | states["raw"].is_null()
    return ok | _junk_where(frame, column, ~ok)


@check("email_normalised")
def email_normalised(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when a valid address has stray spaces or capitals."""
    states = _email_states(frame, _field(params), ctx)
    return (~states["valid"]) | states["raw"].is_null() | (states["raw"] == states["norm"])


@fixer("email_normalise")
def email_normalise(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Trim and lowercase."""
    return proposals(rows, _text(_field(params)).str.strip_chars().str.to_lowercase(), 0.99)


def _account_domains(ctx: RuleContext) -> pl.DataFrame:
    """Live accounts' bare domains (from website or domain), by account id."""
    accounts = ctx.frame("Account")
    if accounts.is_empty():
        return pl.DataFrame(schema={"account_id": pl.String, "account_domain": pl.String})
    source = pl.coalesce(
        [bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in accounts.columns]
    )
    return (
        live(accounts)
        .select(pl.col("id").alias("account_id"), source.alias("account_domain"))
        .filter(pl.col("account_domain").is_not_null() & ~pl.col("account_domain").is_in(list(FREEMAIL)))
    )


@fixer("email_repair")
def email_repair(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Undo the usual typos: doubled @, comma for dot, spaces, a lost @ (found by the account's domain)."""
    column = _field(params)
    domains = _account_domains(ctx)
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
    for value, hint_list, first, last in frame.select(_text(column), hints.alias("h"), *names).iter_rows():
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
        series.append(_account_domains(ctx.for_system(system))["account_domain"].alias("d"))
    known = frozenset(pl.concat(series).drop_nulls().unique().to_list()) if series else frozenset()
    ctx.cache["known_domains"] = known
    return known


def _domain_suffixes(text: str, known: frozenset[str]) -> list[str]:
    """Known domains the text ends with (longest first), leaving a mailbox before them."""
    found = [text[i:] for i in range(1, len(text)) if text[i:] in known]
    return sorted(found, key=len, reverse=True)


def _ascii_lower(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    ).lower()


def _after_mailbox(text: str, first: str | None, last: str | None) -> list[str]:
    """The domain left once the person's usual mailbox (first.last, flast...) is taken off the front."""
    if not first or not last:
        return []
    f, la = _ascii_lower(first), _ascii_lower(last)
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


def email_domain_expr(column: str) -> pl.Expr:
    """The lowercased domain of an address."""
    return _text(column).str.strip_chars().str.to_lowercase().str.split_exact("@", 1).struct.field("field_1")


@check("email_matches_account_domain")
def email_matches_account_domain(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Series:
    """Fails when a contact's business address is at another company's domain than its account's."""
    column = _field(params)
    states = _email_states(frame, column, ctx)
    domains = _account_domains(ctx)
    joined = frame.select(
        "account_id", email_domain_expr(column).alias("d"), junk_mask(pl.col(column)).alias("j")
    )
    joined = joined.join(domains, on="account_id", how="left", maintain_order="left")
    d, account = pl.col("d"), pl.col("account_domain")
    ok = joined.select(
        (
            account.is_null()
            | d.is_null()
            | pl.col("j")
            | d.is_in(list(FREEMAIL))
            | (d == account)
            | d.str.ends_with(pl.lit(".") + account)
        ).fill_null(True)
    ).to_series()
    return ok | ~states["valid"]


@fixer("email_to_account_domain")
def email_to_account_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Keep the mailbox, take the account's domain (a guess: low confidence)."""
    column = _field(params)
    joined = rows.join(_account_domains(ctx), on="account_id", how="left")
    local = _text(column).str.strip_chars().str.to_lowercase().str.split_exact("@", 1).struct.field("field_0")
    return proposals(joined, pl.concat_str([local, pl.lit("@"), pl.col("account_domain")]), 0.6)


# ------------------------------------------------------------------------------------------- phones

_E164 = r"^\+[1-9]\d{6,14}$"


@lru_cache(maxsize=200_000)
def phone_e164(value: str, region: str | None) -> str | None:
    """The E.164 form of a phone number, or None when it cannot be read as a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _iso_countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@check("phone_e164")
def phone_is_e164(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when a phone is not written in E.164 (+4930123456); junk values are another rule's."""
    column = _field(params)
    shaped = frame.select(_text(column).str.contains(_E164).fill_null(True)).to_series()
    return shaped | _junk_where(frame, column, ~shaped)


@fixer("phone_to_e164")
def phone_to_e164(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Parse with the record's country as the region (distinct value-country pairs only)."""
    column = _field(params)
    country = params.get("country_field", "country")
    iso = _iso_countries()
    pairs = rows.select(
        _text(column).alias("v"), _text(country).str.strip_chars().str.to_uppercase().alias("c")
    )
    results = {}
    for value, region in pairs.unique().iter_rows():
        if value is None:
            continue
        known = region if region in iso else None
        number = phone_e164(value, known)
        if number is None and value.strip().startswith("00"):
            number = phone_e164("+" + value.strip()[2:], None)
        results[(value, region)] = (number, 0.95 if known or value.strip().startswith(("+", "00")) else 0.7)
    values = [results.get((v, c), (None, 0.0)) for v, c in pairs.iter_rows()]
    return pl.DataFrame(
        {
            "record_id": rows["id"],
            "proposed_value": pl.Series([v for v, _ in values], dtype=pl.String),
            "confidence": [c if v else 0.0 for v, c in values],
        }
    )


# ----------------------------------------------------------------------------- countries and states


def _key(text: str) -> str:
    """Alias lookup key: accents, case, dots and spaces removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum()).casefold()


def country_key_expr(value: pl.Expr) -> pl.Expr:
    """``_key`` as a polars expression (accents, case and punctuation removed), for whole columns."""
    return (
        value.cast(pl.String).str.normalize("NFKD").str.replace_all(r"[^\p{L}\p{N}]", "").str.to_lowercase()
    )


COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("USA", "U.S.", "U.S.A.", "America", "United States of America", "Estados Unidos", "Etats-Unis",
           "États-Unis", "Vereinigte Staaten", "Stati Uniti", "Verenigde Staten", "EEUU"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland",
           "Grossbritannien", "Großbritannien", "Royaume-Uni", "Reino Unido", "Regno Unito", "GBR"),
    "DE": ("Deutschland", "Allemagne", "Alemania", "Germania", "Duitsland", "GER", "BRD", "Niemcy"),
    "FR": ("Frankreich", "Francia", "Frankrijk", "FRA"),
    "ES": ("España", "Espagne", "Spanien", "Spagna", "Spanje", "ESP"),
    "NL": ("Holland", "The Netherlands", "Nederland", "Niederlande", "Pays-Bas", "Paises Bajos", "NLD"),
    "CA": ("Kanada", "CAN"),
    "AU": ("Australien", "Australie", "AUS", "Oz"),
    "CH": ("Schweiz", "Suisse", "Svizzera", "Switzerland"),
    "AT": ("Österreich", "Oesterreich", "Autriche", "Austria"),
    "IT": ("Italien", "Italie", "Italia"),
    "BE": ("Belgien", "Belgique", "België"),
    "IE": ("Irland", "Irlande", "Eire", "Éire"),
    "SE": ("Schweden", "Suède", "Sverige"),
    "JP": ("Japan", "Japon", "Nippon"),
    "CN": ("China", "Chine", "PRC"),
    "IN": ("India", "Inde", "Indien"),
    "BR": ("Brasil", "Brésil", "Brasilien"),
    "MX": ("México", "Mexique", "Mexiko"),
}  # fmt: skip


@lru_cache(maxsize=1)
def country_lookup() -> dict[str, str]:
    """Alias key -> ISO 3166-1 alpha-2, from pycountry's names and codes plus common aliases."""
    table: dict[str, str] = {}
    for c in pycountry.countries:
        for name in (
            c.alpha_2,
            c.alpha_3,
            c.name,
            getattr(c, "official_name", None),
            getattr(c, "common_name", None),
        ):
            if name:
                table.setdefault(_key(name), c.alpha_2)
    for code, aliases in COUNTRY_ALIASES.items():
        for alias in aliases:
            table[_key(alias)] = code
    return table


@lru_cache(maxsize=50_000)
def country_code(text: str) -> str | None:
    """ISO alpha-2 for a country name, code or alias in several languages."""
    return country_lookup().get(_key(text))


@check("country_iso")
def country_iso(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the country is an ISO 3166-1 alpha-2 code in capitals."""
    return _text(_field(params)).is_in(sorted(_iso_countries()))


@fixer("country_to_iso")
def country_to_iso(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Look the value up among names, codes and aliases (distinct values only)."""
    column = _field(params)
    mapping = {v: country_code(v) for v in rows[column].drop_nulls().unique().to_list()}
    proposed = rows[column].replace_strict(mapping, default=None, return_dtype=pl.String)
    return pl.DataFrame({"record_id": rows["id"], "proposed_value": proposed}).with_columns(
        pl.when(pl.col("proposed_value").is_not_null()).then(0.97).otherwise(0.0).alias("confidence")
    )


STATE_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "US": {
        "AL": ("Ala.",), "AZ": ("Ariz.",), "AR": ("Ark.",), "CA": ("Calif.", "Cal."), "CO": ("Colo.",),
        "CT": ("Conn.",), "DE": ("Del.",), "FL": ("Fla.",), "GA": ("Ga.",), "IL": ("Ill.",), "IN": ("Ind.",),
        "KS": ("Kan.", "Kans."), "KY": ("Ky.",), "LA": ("La.",), "MD": ("Md.",), "MA": ("Mass.",),
        "MI": ("Mich.",), "MN": ("Minn.",), "MS": ("Miss.",), "MO": ("Mo.",), "MT": ("Mont.",),
        "NE": ("Neb.", "Nebr."), "NV": ("Nev.",), "NH": ("N.H.",), "NJ": ("N.J.",), "NM": ("N.M.",),
        "NY": ("N.Y.",), "NC": ("N.C.",), "ND": ("N.D.",), "OK": ("Okla.",), "OR": ("Ore.", "Oreg."),
        "PA": ("Pa.", "Penn.", "Penna."), "RI": ("R.I.",), "SC": ("S.C.",), "SD": ("S.D.",),
        "TN": ("Tenn.",), "TX": ("Tex.",), "VT": ("Vt.",), "VA": ("Va.",), "WA": ("Wash.",),
        "WV": ("W.Va.", "W.V."), "WI": ("Wis.", "Wisc."), "WY": ("Wyo.",), "DC": ("D.C.", "Washington DC"),
    },
    "CA": {"ON": ("Ont.",), "BC": ("B.C.",), "AB": ("Alta.",), "QC": ("Que.", "P.Q.", "Québec"),
           "MB": ("Man.",), "SK": ("Sask.",), "NS": ("N.S.",), "NB": ("N.B.",), "NL": ("Nfld.",),
           "PE": ("P.E.I.",)},
    "DE": {"BY": ("Bavaria",), "NW": ("North Rhine-Westphalia", "NRW"), "HE": ("Hesse",),
           "NI": ("Lower Saxony",), "RP": ("Rhineland-Palatinate",), "SN": ("Saxony",), "TH": ("Thuringia",)},
    "AU": {},
}  # fmt: skip


@lru_cache(maxsize=64)
def state_lookup(country: str) -> dict[str, str]:
    """Alias key -> subdivision code (without the country prefix) for one country."""
    table: dict[str, str] = {}
    for sub in _subdivisions(country):
        code = sub.code.split("-", 1)[1]
        table.setdefault(_key(code), code)
        table.setdefault(_key(sub.name), code)
    for code, aliases in STATE_ALIASES.get(country, {}).items():
        for alias in aliases:
            table[_key(alias)] = code
    return table


@lru_cache(maxsize=8)
def state_codes(country: str) -> frozenset[str]:
    """The subdivision codes of a country, without its prefix."""
    return frozenset(s.code.split("-", 1)[1] for s in _subdivisions(country))


def _subdivisions(country: str) -> list[Any]:
    found = pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]
    return list(found or [])


@check("state_iso")
def state_iso(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the state is its country's ISO 3166-2 code (CA, BY, NSW), where the country is known."""
    column, country = _field(params), params.get("country_field", "country")
    countries = list(params.get("countries", ["US", "CA", "AU", "DE"]))
    valid = pl.lit(True)
    for c in countries:
        valid = (
            pl.when(pl.col(country) == c).then(_text(column).is_in(sorted(state_codes(c)))).otherwise(valid)
        )
    return valid | pl.col(column).is_null()


@fixer("state_to_iso")
def state_to_iso(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Look the name or abbreviation up among the country's subdivisions and common abbreviations."""
    column, country = _field(params), params.get("country_field", "country")
    values = []
    for value, c in rows.select(_text(column), _text(country)).iter_rows():
        values.append(state_lookup(c).get(_key(value)) if value and c else None)
    proposed = pl.Series(values, dtype=pl.String)
    return pl.DataFrame(
        {
            "record_id": rows["id"],
            "proposed_value": proposed,
            "confidence": proposed.is_not_null().cast(pl.Float64) * 0.95,
        }
    )


# -------------------------------------------------------------------------------------------- names

LEGAL_FORMS = ("GmbH", "AG", "KG", "LLC", "LLP", "Inc", "Ltd", "PLC", "Corp", "Co", "SAS", "SA", "SARL", "SL",
               "BV", "NV", "Pty", "SE", "SpA", "Srl", "AB", "AS", "Oy", "KK")  # fmt: skip
_LEGAL = {f.casefold(): f for f in LEGAL_FORMS}


def by_distinct(frame: pl.DataFrame, column: str, judge: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``judge`` (an expression of the column's text) evaluated once per distinct value and spread back
    to the rows: names, titles and countries repeat, so a million rows hold a few thousand values."""
    values = frame.get_column(column).cast(pl.String).alias("__v")
    judged = values.unique().to_frame().with_columns(judge(pl.col("__v")).alias("__out"))
    return (
        values.to_frame()
        .join(judged, on="__v", how="left", nulls_equal=True, maintain_order="left")
        .get_column("__out")
    )


@check("name_clean")
def name_clean(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series | pl.Expr:
    """Fails on stray spaces (leading, trailing, doubled) and on names written all in one case."""
    column = _field(params)
    if column not in frame.columns:
        return _name_clean(_text(column))
    return by_distinct(frame, column, _name_clean_staged)


def _name_clean_staged(v: pl.Expr) -> pl.Expr:
    """``_name_clean`` with its letters computed once (the expression uses them four times)."""
    letters = v.str.replace_all(r"[^\p{L}]", "")
    return pl.struct(v.alias("v"), letters.alias("l")).map_batches(
        lambda s: s.struct.unnest().select(_name_clean(pl.col("v"), pl.col("l"))).to_series(),
        return_dtype=pl.Boolean,
    )


def _name_clean(v: pl.Expr, letters: pl.Expr | None = None) -> pl.Expr:
    letters = v.str.replace_all(r"[^\p{L}]", "") if letters is None else letters
    spaces = v.str.contains(r"^\s|\s$|\s{2,}")
    lower = (letters.str.len_chars() >= 2) & (letters == letters.str.to_lowercase())
    upper = (letters.str.len_chars() >= 4) & (letters == letters.str.to_uppercase()) & ~v.str.contains(r"\s")
    upper_words = (letters.str.len_chars() >= 4) & (v == v.str.to_uppercase()) & v.str.contains(r"\s")
    return ~(spaces | lower | upper | upper_words).fill_null(False)


def _smart_title(text: str) -> str:
    def word(w: str) -> str:
        if w.casefold() in _LEGAL:
            return _LEGAL[w.casefold()]
        parts = re.split(r"([-'])", w.lower())
        out = "".join(p[:1].upper() + p[1:] if p not in "-'" else p for p in parts)
        if re.match(r"^Mc[a-z]", out):
            out = "Mc" + out[2:3].upper() + out[3:]
        return out

    return " ".join(word(w) for w in text.split())


def _casing_reference(ctx: RuleContext, columns: Iterable[str]) -> dict[str, Any]:
    """The most common spelling of each name across the base (both CRMs), among well-written values."""
    key = ("casing", tuple(columns))
    cached = ctx.cache.get(key)
    if isinstance(cached, dict):
        return cached
    series = []
    for system in ctx.systems():
        for entity, frame in ctx.frames(system).items():
            for column in columns:
                if column in frame.columns and entity != "Owner":
                    series.append(frame.get_column(column).cast(pl.String).drop_nulls().alias("v"))
    if not series:
        return {}
    # names repeat (a few thousand spellings over millions of records): each distinct spelling is
    # judged once, with how often it is written
    counted = pl.concat(series).to_frame().group_by("v").len()
    good = counted.filter(name_clean(counted, ctx, {"field": "v"}))
    table = (
        good.with_columns(k=pl.col("v").str.to_lowercase())
        .sort(["k", "len", "v"], descending=[False, True, False])
        .unique("k", keep="first")
    )
    reference: dict[str, Any] = dict(zip(table["k"].to_list(), table["v"].to_list(), strict=True))
    tokens = (
        good.select(pl.col("v").str.split(" ").alias("w"), "len").explode("w").filter(pl.col("w") != "")
        .group_by("w").agg(pl.col("len").sum()).with_columns(k=pl.col("w").str.to_lowercase())
        .sort(["k", "len", "w"], descending=[False, True, False]).unique("k", keep="first")
    )  # fmt: skip
    reference["\0words"] = dict(zip(tokens["k"].to_list(), tokens["w"].to_list(), strict=True))
    ctx.cache[key] = reference
    return reference


@fixer("name_fix")
def name_fix(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Trim and collapse spaces; restore case from the spelling most used across the base, else title-case."""
    column = _field(params)
    reference = _casing_reference(ctx, params.get("reference_fields", [column]))
    out: list[str | None] = []
    conf: list[float] = []
    for value in rows[column].cast(pl.String).to_list():
        cleaned = " ".join((value or "").split())
        if not cleaned:
            out.append(None)
            conf.append(0.0)
            continue
        letters = re.sub(r"[^\w]", "", cleaned)
        one_case = letters == letters.lower() or (letters == letters.upper() and len(letters) >= 4)
        if not one_case:
            out.append(cleaned)
            conf.append(0.99)
        elif cleaned.lower() in reference:
            out.append(reference[cleaned.lower()])
            conf.append(0.9)
        else:
            words = reference.get("\0words", {})
            assert isinstance(words, dict)
            known = [words.get(w.lower()) for w in cleaned.split()]
            titled = _smart_title(cleaned).split()
            out.append(" ".join(k or t for k, t in zip(known, titled, strict=True)))
            conf.append(0.8 if all(known) else 0.6)
    return pl.DataFrame(
        {"record_id": rows["id"], "proposed_value": pl.Series(out, dtype=pl.String), "confidence": conf}
    )


# ----------------------------------------------------------------------------------------- websites


def bare_domain_expr(value: pl.Expr) -> pl.Expr:
    """``https://www.Acme.com/about`` -> ``acme.com``."""
    return (
        value.cast(pl.String).str.strip_chars().str.to_lowercase()
        .str.replace(r"^[a-z][a-z0-9+.-]*://", "").str.replace(r"^www\d?\.", "")
        .str.replace(r"[/?#:].*$", "").str.strip_chars_end(".")
        .replace("", None)
    )  # fmt: skip


@check("bare_domain")
def bare_domain(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the website is a bare lowercase domain (no scheme, www, path)."""
    column = _field(params)
    return (_text(column) == bare_domain_expr(pl.col(column))) & _text(column).str.contains(
        r"^[a-z0-9-]+(\.[a-z0-9-]+)+$"
    )


@fixer("to_bare_domain")
def to_bare_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Strip scheme, www, path; lowercase."""
    return proposals(rows, bare_domain_expr(pl.col(_field(params))), 0.98)


@check("not_freemail")
def not_freemail(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when a business account's website or domain is a free-mail provider's."""
    return ~bare_domain_expr(pl.col(_field(params))).is_in(list(FREEMAIL)).fill_null(False)


@fixer("domain_from_contacts")
def domain_from_contacts(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Propose the business domain most of the account's contacts write from."""
    contacts = ctx.frame("Contact")
    if contacts.is_empty():
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    domains = (
        # only the contacts of the accounts being fixed (a few among a million)
        contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_in(rows["id"].implode()))
        .select("account_id", email_domain_expr("email").alias("d"))
        .filter(pl.col("d").is_not_null() & ~pl.col("d").is_in(list(FREEMAIL)) & ~junk_mask(pl.col("d")))
        .group_by("account_id", "d").len()
        .sort(["account_id", "len", "d"], descending=[False, True, False]).unique("account_id", keep="first")
    )  # fmt: skip
    joined = rows.join(domains, left_on="id", right_on="account_id", how="left")
    # no contacts to ask: the same company in the other CRM, linked by the ids each keeps of the other
    other = next((o for o in ctx.systems() if o != ctx.system), None)
    twin = ctx.frame("Account", other) if other else pl.DataFrame()
    if twin.height and "linked_id" in rows.columns:
        source = pl.coalesce(
            [bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in twin.columns]
        )
        by_twin_id = twin.select(pl.col("id").alias("__twin"), source.alias("__td"))
        by_back_link = (
            twin.select(pl.col("linked_id").alias("__back"), source.alias("__bd"))
            .filter(pl.col("__back").is_not_null())
            .unique("__back")
        )
        joined = joined.join(by_twin_id, left_on="linked_id", right_on="__twin", how="left").join(
            by_back_link, left_on="id", right_on="__back", how="left"
        )
        twin_domain = pl.coalesce("__td", "__bd")
        twin_domain = pl.when(twin_domain.is_in(list(FREEMAIL))).then(None).otherwise(twin_domain)
    else:
        twin_domain = pl.lit(None, pl.String)
    # last resort, a guess for a human to confirm: the name without its legal form, at the country's TLD
    names = joined.select("name", "country").iter_rows()
    guess = pl.Series([_domain_guess(n, c) for n, c in names], dtype=pl.String)
    joined = joined.with_columns(guess.alias("__guess"))
    best = pl.coalesce(pl.col("d"), twin_domain, pl.col("__guess"))
    conf = (
        pl.when(pl.col("d").is_not_null()).then(0.8).when(twin_domain.is_not_null()).then(0.75)
        .when(pl.col("__guess").is_not_null()).then(0.3).otherwise(0.0)
    )  # fmt: skip
    return proposals(joined, best, conf)


COUNTRY_TLDS = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "ES": "es", "NL": "nl", "AU": "com.au",
                "CA": "ca", "IT": "it", "CH": "ch", "AT": "at", "BE": "be", "IE": "ie",
                "SE": "se"}  # fmt: skip


def _domain_guess(name: str | None, country: str | None) -> str | None:
    if not name:
        return None
    words = [w for w in name.split() if w.casefold() not in _LEGAL]
    stem = re.sub(r"[^a-z0-9]", "", _ascii_lower("".join(words)))
    tld = COUNTRY_TLDS.get((country or "").strip().upper(), "com")
    return f"{stem}.{tld}" if stem else None


# --------------------------------------------------------------------------------------- references


def _live_ids(ctx: RuleContext, entity: str) -> pl.Series:
    frame = ctx.frame(entity)
    if frame.is_empty():
        return pl.Series("id", [], dtype=pl.String)
    return live(frame)["id"]


@check("account_exists")
def account_exists(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record has no account, or its account is deleted or missing."""
    column = params.get("field", "account_id")
    return pl.col(column).is_in(_live_ids(ctx, "Account").implode()).fill_null(False)


@fixer("account_by_email_domain")
def account_by_email_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """The live account whose domain is the contact's e-mail domain (when exactly one has it)."""
    domains = _account_domains(ctx).filter(pl.col("account_id").is_in(_live_ids(ctx, "Account").implode()))
    unique = domains.group_by("account_domain").agg(pl.col("account_id").first(), pl.len().alias("n"))
    unique = unique.filter(pl.col("n") == 1).drop("n")
    if "email" not in rows.columns:
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    # where no account carries the domain (its website may be wrong too), the account most colleagues
    # writing from that domain belong to
    contacts = ctx.frame("Contact")
    colleagues = (
        contacts.filter(
            ~pl.col("is_deleted") & pl.col("account_id").is_in(_live_ids(ctx, "Account").implode())
        )
        .select(email_domain_expr("email").alias("account_domain"), "account_id")
        .filter(pl.col("account_domain").is_not_null() & ~pl.col("account_domain").is_in(list(FREEMAIL)))
        .group_by("account_domain", "account_id").len()
        .sort(["account_domain", "len", "account_id"], descending=[False, True, False])
        .unique("account_domain", keep="first").select("account_domain", pl.col("account_id").alias("__peer"))
    )  # fmt: skip
    joined = (
        rows.with_columns(email_domain_expr("email").alias("__d"))
        .join(unique.rename({"account_id": "__acc"}), left_on="__d", right_on="account_domain", how="left")
        .join(colleagues, left_on="__d", right_on="account_domain", how="left")
    )
    best = pl.coalesce("__acc", "__peer")
    conf = pl.when(pl.col("__acc").is_not_null()).then(0.8).when(pl.col("__peer").is_not_null()).then(0.7)
    return proposals(joined, best, conf.otherwise(0.0))


@fixer("account_by_contact_role")
def account_by_contact_role(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """An opportunity's account from its contacts' live accounts (when they agree)."""
    roles, contacts = ctx.frame("ContactRole"), ctx.frame("Contact")
    if roles.is_empty() or contacts.is_empty():
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    live = _live_ids(ctx, "Account").implode()
    accounts = (
        roles.filter(~pl.col("is_deleted")).select("opportunity_id", "contact_id")
        .join(contacts.select(pl.col("id").alias("contact_id"), "account_id"), on="contact_id")
        .filter(pl.col("account_id").is_in(live))
        .group_by("opportunity_id").agg(pl.col("account_id").unique().alias("a"))
        .filter(pl.col("a").list.len() == 1).with_columns(pl.col("a").list.first())
    )  # fmt: skip
    joined = rows.join(accounts, left_on="id", right_on="opportunity_id", how="left")
    return proposals(joined, pl.col("a"), pl.when(pl.col("a").is_null()).then(0.0).otherwise(0.85))


@check("owner_active")
def owner_active(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record's owner is inactive or is not a known user."""
    owners = ctx.frame("Owner")
    if owners.is_empty():
        return pl.lit(True)
    active = owners.filter(pl.col("is_active").fill_null(True) & ~pl.col("is_deleted"))["id"].implode()
    return pl.col("owner_id").is_in(active) | pl.col("owner_id").is_null()


@check("has_contact_role")
def has_contact_role(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when an open opportunity has no contact on it."""
    roles = ctx.frame("ContactRole")
    with_people = (
        roles.filter(~pl.col("is_deleted"))["opportunity_id"].unique().implode()
        if roles.height
        else pl.Series([], dtype=pl.String).implode()
    )
    return pl.col("id").is_in(with_people) | pl.col("is_closed").fill_null(False)


# ------------------------------------------------------------------------------------ opportunities


@check("not_negative")
def not_negative(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails below zero."""
    return (pl.col(_field(params)) >= 0).fill_null(True)


@fixer("absolute")
def absolute(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """The value without its sign (a typed minus is the usual cause)."""
    return proposals(rows, pl.col(_field(params)).abs(), 0.85)


@check("close_date_not_past_when_open")
def close_date_not_past_when_open(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Expr:
    """Fails when an open opportunity's close date has passed."""
    closed = pl.col("is_closed").fill_null(pl.col("stage").is_in(list(params.get("closed_stages", []))))
    return closed.fill_null(False) | (pl.col("close_date") >= ctx.today) | pl.col("close_date").is_null()


@check("stage_probability")
def stage_probability(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the probability is not the stage's (``stages``: stage -> probability, 0-100)."""
    stages = {str(k): float(v) for k, v in dict(params["stages"]).items()}
    expected = pl.col("stage").replace_strict(stages, default=None, return_dtype=pl.Float64)
    return ((pl.col("probability") - expected).abs() < 0.5).fill_null(True)


@fixer("stage_default_probability")
def stage_default_probability(
    rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.DataFrame:
    """The stage's probability."""
    stages = {str(k): float(v) for k, v in dict(params["stages"]).items()}
    expected = pl.col("stage").replace_strict(stages, default=None, return_dtype=pl.Float64).cast(pl.Int64)
    return proposals(rows, expected, 0.95)


@check("not_stale")
def not_stale(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record has not changed for ``days`` days."""
    cutoff = ctx.now - timedelta(days=int(params.get("days", 730)))
    return (pl.col("updated_at") >= cutoff).fill_null(True)


# ------------------------------------------------------------------------------ across the two CRMs


@check("lifecycle_matches_lead")
def lifecycle_matches_lead(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when a HubSpot contact's lifecycle stage contradicts its Salesforce lead (converted or not)."""
    leads = ctx.frame("Lead", "salesforce")
    if leads.is_empty() or "linked_lead_id" not in frame.columns:
        return pl.Series([True] * frame.height)
    early = list(params.get("early_stages", ["subscriber", "lead"]))
    late = list(params.get("late_stages", ["opportunity", "customer", "evangelist"]))
    dead = list(params.get("dead_statuses", ["Closed - Not Converted", "Unqualified"]))
    joined = (
        frame.select("linked_lead_id", "lifecycle_stage")
        .with_row_index("__row")
        .join(
            leads.select(pl.col("id").alias("linked_lead_id"), "is_converted", "status"),
            on="linked_lead_id",
            how="left",
        )
        .sort("__row")
    )
    bad = (joined["is_converted"].fill_null(False) & joined["lifecycle_stage"].is_in(early)) | (
        joined["status"].is_in(dead) & joined["lifecycle_stage"].is_in(late)
    )
    return ~bad.fill_null(False)


# ------------------------------------------------------------------------ generic (YAML vocabulary)


def generic_check(
    kind: str, spec: Any, column: str
) -> Callable[[pl.DataFrame, RuleContext, Mapping[str, Any]], pl.Expr]:
    """A plain column check from YAML: not_null, not_blank, matches, not_matches, isin, not_in, length,
    between, unique. Raises ValueError on a malformed spec."""
    col = pl.col(column)
    if kind == "not_null":
        expr = col.is_not_null()
    elif kind == "not_blank":
        expr = col.is_not_null() & (col.cast(pl.String).str.strip_chars() != "")
    elif kind in ("matches", "not_matches"):
        if not isinstance(spec, str):
            raise ValueError(f"{kind} takes a regular expression")
        re.compile(spec)
        hit = col.cast(pl.String).str.contains(spec)
        expr = (hit if kind == "matches" else ~hit).fill_null(True)
    elif kind in ("isin", "not_in"):
        if not isinstance(spec, list):
            raise ValueError(f"{kind} takes a list of values")
        member = col.is_in(spec)
        expr = (member if kind == "isin" else ~member).fill_null(True)
    elif kind == "length":
        if not isinstance(spec, dict) or not set(spec) <= {"min", "max"} or not spec:
            raise ValueError("length takes {min: n, max: m}")
        n = col.cast(pl.String).str.len_chars()
        expr = ((n >= spec.get("min", 0)) & (n <= spec.get("max", 10**9))).fill_null(True)
    elif kind == "between":
        if not isinstance(spec, dict) or not set(spec) <= {"min", "max"} or not spec:
            raise ValueError("between takes {min: a, max: b}")
        lo, hi = spec.get("min"), spec.get("max")
        expr = ((col >= lo) if lo is not None else pl.lit(True)) & (
            (col <= hi) if hi is not None else pl.lit(True)
        )
        expr = expr.fill_null(True)
    elif kind == "unique":
        # a group count rather than ``is_duplicated``: the same answer in less than half the time
        expr = (pl.len().over(col) == 1) | col.is_null()
    else:
        raise ValueError(f"unknown check {kind!r}")

    def generic(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
        return expr

    GENERIC_KINDS[generic] = (kind, column)
    return generic


# which plain check (kind, column) a YAML rule's check function is: the Spark engine runs ``unique``
# across partitions (crm_ops.spark), every other kind row by row
GENERIC_KINDS: weakref.WeakKeyDictionary[Callable[..., Any], tuple[str, str]] = weakref.WeakKeyDictionary()


# The plain column checks of the YAML vocabulary (``check: not_null`` or ``check: {matches: '^[A-Z]'}``),
# with what each takes and does (docs/reference/checks.md is generated from this and the registry).
GENERIC_HELP = {
    "not_null": ("nothing", "fails when the field is empty"),
    "not_blank": ("nothing", "fails when the field is empty or only spaces"),
    "matches": ("a regular expression", "fails when the value does not contain a match"),
    "not_matches": ("a regular expression", "fails when the value contains a match"),
    "isin": ("a list of values", "fails when the value is not one of them"),
    "not_in": ("a list of values", "fails when the value is one of them"),
    "length": ("{min: n, max: m}", "fails when the text is shorter or longer"),
    "between": ("{min: a, max: b}", "fails when the value is below min or above max"),
    "unique": ("nothing", "fails on every record sharing its value with another (nulls pass)"),
}
GENERIC_CHECKS = tuple(GENERIC_HELP)


# the checks across the CRMs and the sources beyond them (billing, product) register themselves
from crm_ops.rules import crosssource  # noqa: E402, F401
