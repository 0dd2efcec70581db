"""Countries and their subdivisions: ISO 3166 codes for names, codes and aliases in several languages.

pycountry's names and codes plus common aliases (``COUNTRY_ALIASES``, ``STATE_ALIASES``), looked up by a
key with accents, case, dots and spaces removed (``alias_key``, ``country_key_expr`` for whole columns).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

import polars as pl
import pycountry


def alias_key(text: str) -> str:
    """Alias lookup key: accents, case, dots and spaces removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum()).casefold()


def country_key_expr(value: pl.Expr) -> pl.Expr:
    """``alias_key`` as a polars expression (accents, case and punctuation removed), for whole columns."""
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
                table.setdefault(alias_key(name), c.alpha_2)
    for code, aliases in COUNTRY_ALIASES.items():
        for alias in aliases:
            table[alias_key(alias)] = code
    return table


@lru_cache(maxsize=50_000)
def country_code(text: str) -> str | None:
    """ISO alpha-2 for a country name, code or alias in several languages."""
    return country_lookup().get(alias_key(text))


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
        table.setdefault(alias_key(code), code)
        table.setdefault(alias_key(sub.name), code)
    for code, aliases in STATE_ALIASES.get(country, {}).items():
        for alias in aliases:
            table[alias_key(alias)] = code
    return table


@lru_cache(maxsize=8)
def state_codes(country: str) -> frozenset[str]:
    """The subdivision codes of a country, without its prefix."""
    return frozenset(s.code.split("-", 1)[1] for s in _subdivisions(country))


def _subdivisions(country: str) -> list[Any]:
    found = pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]
    return list(found or [])


def iso_countries() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code."""
    return frozenset(c.alpha_2 for c in pycountry.countries)
