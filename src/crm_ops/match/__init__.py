"""Duplicates within a CRM and records matched across the two, with scores, reasons and proposals.

from crm_ops.match import MatchConfig, FieldRule, find_duplicates, link_records, clusters

config = MatchConfig("Contact", fields=(FieldRule("email", "normalised", 0.6, "email"),
                                        FieldRule("last_name", "fuzzy", 0.4, "name")),
                     blocking=(("email",),), threshold=0.8)
pairs = find_duplicates(frame, config, id_column="contact_id")   # left_id, right_id, score, reasons, explain
groups = clusters(pairs)                                          # id, cluster_id

A config's ``model`` is ``weighted`` (the score is the weighted mean of the fields' similarities) or
``fellegi-sunter`` (``crm_ops.match.fs``: each field's comparison levels weigh what they tell, learned
from the records themselves; the score is a match probability). Every pair says why in ``explain``
(``crm_ops.match.explain``: the prior and each field's level and weight).

The frame's columns are the caller's: ``id_column`` names the id (``id`` by default) and the rules name
the fields; a column the config names that the frame lacks is a ``ConfigError`` naming it and the
frame's columns. ``date`` rules read date, datetime and text columns (ISO and common forms,
``crm_ops.match.dates``). A config that cannot work (an unknown comparator, a threshold of 80...) is
refused when built. ``run_matching`` runs every step over a profile's snapshots (the order:
``crm_ops.match.orchestrate``; on Spark, ``crm_ops.spark.run_matching_spark``).
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
