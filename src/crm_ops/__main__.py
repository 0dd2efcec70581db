"""``python -m crm_ops``: the same as the ``crm-ops`` command."""

from crm_ops.cli import main

main()
