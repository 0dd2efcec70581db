"""Canonical entities and the per-CRM field maps that fill them."""
