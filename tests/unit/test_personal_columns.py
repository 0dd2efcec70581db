"""Columns holding personal data (issue 31): the canonical ones and those a map marks ``personal: true``
are known by entity; a pull's statistics never keep their values, as they keep a category's; a wrong
marking is named with its file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.entitystats import snapshot_stats
from crm_ops.errors import ConfigError
from crm_ops.schema.entities import personal_columns
from crm_ops.schema.maploading import load_object_map

ATTENDEES = """\
system: salesforce
entities:
  Attendee:
    object: Attendee__c
    required:
      name: {field: Name, personal: true}
    optional:
      badge_email: {field: Badge_Email__c, personal: true}
      track: Track__c
"""


def test_a_map_marks_a_declared_entitys_personal_columns(tmp_path: Path) -> None:
    assert {"email", "first_name", "additional_emails"} <= personal_columns("Contact")
    assert "stage" not in personal_columns("Opportunity")
    path = tmp_path / "attendees.yaml"
    path.write_text(ATTENDEES)
    load_object_map(path)
    assert personal_columns("Attendee") == {"name", "badge_email"}
    path.write_text(ATTENDEES.replace("personal: true}\n    optional", "personal: yes please}\n    optional"))
    with pytest.raises(ConfigError, match=r"attendees.yaml:6.*'personal' takes true or false"):
        load_object_map(path)


def test_a_pulls_statistics_never_keep_personal_values(tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pl.DataFrame(
        {
            "id": ["1", "2", "3"],
            "is_deleted": [False, False, False],
            "first_name": ["Ann", "Bo", "Ann"],  # a small org: names pass for a category
            "lead_status": ["Open", "Open", "Working"],
        }
    ).write_parquet(path)
    stats = snapshot_stats(path, pulled_at=datetime.now(UTC), personal=personal_columns("Contact"))
    assert stats["columns"]["first_name"] == {"null_rate": 0.0, "distinct": 2}
    assert stats["columns"]["lead_status"]["top"] == pytest.approx({"Open": 2 / 3, "Working": 1 / 3})
    assert "Ann" not in str(stats)
