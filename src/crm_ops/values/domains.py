"""Domains and addresses: a website's bare domain, an address's domain, text an address can hold."""

from __future__ import annotations

import unicodedata

import polars as pl


def bare_domain_expr(value: pl.Expr) -> pl.Expr:
    """``https://www.Acme.com/about`` -> ``acme.com``."""
    return (
        value.cast(pl.String).str.strip_chars().str.to_lowercase()
        .str.replace(r"^[a-z][a-z0-9+.-]*://", "").str.replace(r"^www\d?\.", "")
        .str.replace(r"[/?#:].*$", "").str.strip_chars_end(".")
        .replace("", None)
    )  # fmt: skip


def email_domain_expr(column: str) -> pl.Expr:
    """The lowercased domain of an address."""
    return (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.split_exact("@", 1)
        .struct.field("field_1")
    )


def address_text(text: str) -> str:
    """The ASCII letters, digits, dots and hyphens of ``text``, accents folded, lowercased."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    ).lower()
