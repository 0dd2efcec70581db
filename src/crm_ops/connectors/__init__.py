"""Connectors: Salesforce and HubSpot behind one contract (``crm_ops.connectors.base``)."""
