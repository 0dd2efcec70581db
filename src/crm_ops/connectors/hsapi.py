"""What the read and the write side of the HubSpot connector share: batch sizes and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

ASSOC_BATCH = 1_000  # ids a v4 association batch call takes
UPDATE_BATCH = 100  # records a batch read or update takes


def epoch_ms(value: datetime) -> str:
    """A datetime as HubSpot's search filters take it: epoch milliseconds, as a string."""
    return str(int(value.astimezone(UTC).timestamp() * 1000))


def parse_stamp(text: str) -> datetime:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
