"""Duplicates within a CRM and records matched across the two, with scores, reasons and proposals.

from crm_ops.match import MatchConfig, FieldRule, find_duplicates, link_records, clusters

config = MatchConfig("Contact", fields=(FieldRule("email", "normalised", 0.6, "email"),
                                        FieldRule("last_name", "fuzzy", 0.4, "name")),
                     blocking=(("email",),), threshold=0.8)
pairs = find_duplicates(frame, config)      # left_id, right_id, score, reasons
groups = clusters(pairs)                    # id, cluster_id
"""

from crm_ops.match.config import DEFAULTS, FieldRule, MatchConfig
from crm_ops.match.engine import clusters, find_duplicates, link_records, one_to_one
from crm_ops.match.merges import survivorship
from crm_ops.match.run import MatchResult, run_matching
from crm_ops.match.survivor import MergeRules

__all__ = [
    "DEFAULTS",
    "FieldRule",
    "MatchConfig",
    "MatchResult",
    "MergeRules",
    "clusters",
    "find_duplicates",
    "link_records",
    "one_to_one",
    "run_matching",
    "survivorship",
]
