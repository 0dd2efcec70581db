"""crm_ops: data-quality operations for Salesforce and HubSpot."""

__version__ = "0.1.0"
