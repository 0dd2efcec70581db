"""Company names: the legal forms a name may end with (GmbH, Inc, Ltd...)."""

from __future__ import annotations

LEGAL_FORMS = ("GmbH", "AG", "KG", "LLC", "LLP", "Inc", "Ltd", "PLC", "Corp", "Co", "SAS", "SA", "SARL", "SL",
               "BV", "NV", "Pty", "SE", "SpA", "Srl", "AB", "AS", "Oy", "KK")  # fmt: skip
# each legal form by its casefolded spelling (``gmbh`` -> ``GmbH``)
LEGAL_BY_FOLD = {f.casefold(): f for f in LEGAL_FORMS}
