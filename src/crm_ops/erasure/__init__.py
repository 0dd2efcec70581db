"""Erasure (issue 31): a person's data taken out of both CRMs, the sources and crm_ops' own state, and kept
out (the suppression list), with a certificate of every place erased."""
