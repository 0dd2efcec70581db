"""crm_ops: data-quality operations for Salesforce and HubSpot.

Used as a library, crm_ops logs warnings and errors to stderr and nothing to stdout until the program
calls ``crm_ops.logs.configure()`` (or configures structlog itself): see ``crm_ops.logs``.
"""

from crm_ops import logs as _logs

__version__ = "0.1.0"

_logs.library_default()
