"""Value normalisers shared by the rules and matching, below both (this package imports neither).

``wordlists`` (free-mail domains, nicknames, placeholders; ``wordlists.yaml`` beside it), ``junk``
(placeholder values), ``domains`` (bare domains, an address's domain), ``countries`` (ISO 3166 codes
for names and aliases, and the subdivisions), ``companies`` (legal forms).
"""
