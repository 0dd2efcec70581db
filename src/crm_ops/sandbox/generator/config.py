"""What the generator is asked to make: ``SeedConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from crm_ops.sandbox.sf_objects import ORGS


@dataclass(frozen=True)
class SeedConfig:
    """What to generate. ``records`` is the number of contacts per CRM; other objects follow it."""

    records: int = 1000
    seed: int = 42
    defect_rate: float = 0.05
    as_of: date | None = None
    accounts: int | None = None
    leads: int | None = None
    opportunities: int | None = None
    owners: int | None = None
    overlap: float = 0.6
    # "crm_ops": our custom fields and HubSpot's Salesforce-integration properties are there;
    # "plain": an org as crm_ops first meets it (no custom fields, no integration properties, and
    # Contact.HasOptedOutOfEmail hidden from the integration user by field-level security).
    org: str = "crm_ops"
    # activities (Salesforce Task, Event; HubSpot tasks, calls, e-mails, meetings, notes) per live contact
    # on each CRM, all kinds together; 0: none
    activities_per_contact: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        if not 100 <= self.records <= 1_000_000:
            problems.append(f"records must be between 100 and 1,000,000, got {self.records}")
        if not 0 <= self.defect_rate <= 0.5:
            problems.append(f"defect_rate must be between 0 and 0.5, got {self.defect_rate}")
        if self.org not in ORGS:
            problems.append(f"org must be one of {', '.join(ORGS)}, got {self.org!r}")
        if not 0 <= self.overlap <= 1:
            problems.append(f"overlap must be between 0 and 1, got {self.overlap}")
        for name in ("accounts", "leads", "opportunities", "owners"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 1_000_000:
                problems.append(f"{name} must be between 1 and 1,000,000, got {value}")
        if not 0 <= self.activities_per_contact <= 50:
            problems.append(
                f"activities_per_contact must be between 0 and 50, got {self.activities_per_contact}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def today(self) -> date:
        """The generator's 'today' (UTC)."""
        return self.as_of or datetime.now(UTC).date()

    def sizes(self) -> dict[str, int]:
        """How many clean records of each kind to make."""
        n = self.records
        return {
            "contacts": n,
            "accounts": self.accounts or max(25, n // 4),
            "leads": self.leads or max(10, n // 2),
            "opportunities": self.opportunities or max(10, n // 2),
            "owners": self.owners or int(np.clip(n // 2000, 8, 500)),
        }
