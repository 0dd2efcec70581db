"""Why a pair matched, under matching's name: the ``explain`` text every scored pair carries, its
encoding, decoding, compact form and waterfall (``crm_ops.explain``, which sits below matching, the plan
and the report, who all read it)."""

from crm_ops.explain import SEPARATOR, Term, compact, decode, encode, outcome, probability, total, waterfall

__all__ = ["SEPARATOR", "Term", "compact", "decode", "encode", "outcome", "probability", "total", "waterfall"]
