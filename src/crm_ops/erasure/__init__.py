"""Privacy operations (issue 31): erasing a person from both CRMs and from crm_ops' own state.

``subjects`` (who, from options or a file), ``find`` (their records and mentions in the current
snapshots), ``purge`` (our copies rewritten without them, and every byte searched), ``run`` (the whole
erasure: suppression first, the CRMs' permanent deletes, the purge, the certificate). The suppression list
itself is ``crm_ops.suppression``, below the pulls and applies that consult it."""
