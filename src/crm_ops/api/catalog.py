"""What a script needs to know about the data without reading source: the canonical entities with
their columns and types (the same for both CRMs), and the default match rules (which a profile's
``[profiles.P.match]`` table overrides by the same keys)."""

from __future__ import annotations

from crm_ops.match.config import DEFAULTS, MatchConfig
from crm_ops.schema.entities import SOURCE_ENTITIES, columns, entity_names


def entities(*, sources: bool = True) -> dict[str, dict[str, str]]:
    """Every canonical entity and its columns with their polars types, in order: ``{"Contact": {"id":
    "String", "updated_at": "Datetime(time_unit='ms', time_zone='UTC')", ...}, ...}``. Both CRMs' pulls
    give these columns (a column a CRM cannot fill is null), plus custom fields as ``custom_<field>``
    columns. The entities a profile declares by maps (custom objects: ``object_maps``, ``[objects]``) are
    listed after the core ones once a profile declaring them is opened. ``sources=False`` leaves out the
    sources' entities (Subscription, ProductUser)."""
    names = [e for e in entity_names() if sources or e not in SOURCE_ENTITIES]
    return {name: {col: str(dtype) for col, dtype in columns(name).items()} for name in names}


def match_configs() -> dict[str, MatchConfig]:
    """The default match rules by key: ``Contact``, ``Lead-Contact``, ``Account`` (duplicates within a
    CRM) and ``cross.Contact``, ``cross.Account``, ``cross.Opportunity`` (links between the two CRMs).
    Each is a ``crm_ops.match.config.MatchConfig``: its fields, comparators, weights, blocking keys and
    threshold; ``[profiles.P.match.<key>]`` overrides them."""
    return dict(DEFAULTS)
