"""The checks and fixers the shipped rules (and users' YAML rules) call by name.

Importing this package registers every one of them in ``CHECKS`` and ``FIXES`` (``registry``); each
module holds one concern: ``placeholders``, ``emails``, ``phones``, ``places`` (countries and states),
``spelling`` (how names are written), ``websites`` (company domains), ``references`` (records that
point at others), ``deals`` (opportunities and record age), and ``generic``, the plain column checks of
the YAML vocabulary. The checks across the sources (``crm_ops.rules.crosssource``) register with the
same registry. The value normalisers they share with matching live below both, in ``crm_ops.values``.

Per-value library calls are what cost at 1M rows (phonenumbers ~47 us, email-validator ~36 us a
value), so every check settles the common shapes with a vectorised polars expression first and hands
the libraries only the distinct values that expression cannot decide.
"""

from crm_ops.rules.library.deals import (
    absolute,
    close_date_not_past_when_open,
    not_before,
    not_negative,
    not_overdue,
    not_stale,
    stage_default_probability,
    stage_probability,
)
from crm_ops.rules.library.emails import (
    email_matches_account_domain,
    email_normalise,
    email_normalised,
    email_repair,
    email_to_account_domain,
    email_valid,
)
from crm_ops.rules.library.generic import GENERIC_CHECKS, GENERIC_HELP, GENERIC_KINDS, generic_check
from crm_ops.rules.library.lookups import FREEMAIL
from crm_ops.rules.library.phones import phone_is_e164, phone_to_e164
from crm_ops.rules.library.placeholders import clear, not_placeholder
from crm_ops.rules.library.places import country_iso, country_to_iso, state_iso, state_to_iso
from crm_ops.rules.library.references import (
    account_by_contact_role,
    account_by_email_domain,
    account_exists,
    has_contact_role,
    lifecycle_matches_lead,
    owner_active,
)
from crm_ops.rules.library.registry import CHECKS, FIXES, check, fixer, proposals
from crm_ops.rules.library.spelling import name_clean, name_fix
from crm_ops.rules.library.websites import bare_domain, domain_from_contacts, not_freemail, to_bare_domain

# the normalisers the Spark engine's lookups repeat (``crm_ops.spark.needs``), as the checks use them
from crm_ops.values.domains import bare_domain_expr, email_domain_expr

__all__ = [
    "CHECKS",
    "FIXES",
    "FREEMAIL",
    "GENERIC_CHECKS",
    "GENERIC_HELP",
    "GENERIC_KINDS",
    "absolute",
    "account_by_contact_role",
    "account_by_email_domain",
    "account_exists",
    "bare_domain",
    "bare_domain_expr",
    "check",
    "clear",
    "close_date_not_past_when_open",
    "country_iso",
    "country_to_iso",
    "domain_from_contacts",
    "email_domain_expr",
    "email_matches_account_domain",
    "email_normalise",
    "email_normalised",
    "email_repair",
    "email_to_account_domain",
    "email_valid",
    "fixer",
    "generic_check",
    "has_contact_role",
    "lifecycle_matches_lead",
    "name_clean",
    "name_fix",
    "not_before",
    "not_freemail",
    "not_negative",
    "not_overdue",
    "not_placeholder",
    "not_stale",
    "owner_active",
    "phone_is_e164",
    "phone_to_e164",
    "proposals",
    "stage_default_probability",
    "stage_probability",
    "state_iso",
    "state_to_iso",
    "to_bare_domain",
]
