"""Start the sandbox, then read it with the real Salesforce and HubSpot clients.

Run: ``.venv/bin/python examples/sandbox_tour.py``. Prints a few records with defects from each CRM.
"""

from __future__ import annotations

import polars as pl
from simple_salesforce.format import format_soql

from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig


def main() -> None:
    """Seed 500 contacts per CRM, show injected phone defects as Salesforce returns them."""
    with Sandbox(SandboxConfig(seed=SeedConfig(records=500, seed=3, defect_rate=0.1))) as sandbox:
        sf = salesforce_client(sandbox.env)
        defects = sandbox.data.manifest.defects
        phones = defects.filter((pl.col("system") == "salesforce") & (pl.col("kind") == "phone_format"))
        for record_id, field, correct in (
            phones.select("record_id", "field", "correct_value").head(5).iter_rows()
        ):
            obj = (
                "Contact"
                if record_id.startswith("003")
                else "Account"
                if record_id.startswith("001")
                else "Lead"
            )
            soql = format_soql("SELECT Id, {:literal} FROM {:literal} WHERE Id = {}", field, obj, record_id)
            record = sf.query(soql)["records"][0]
            print(f"salesforce {obj} {record_id}: {field} = {record[field]!r} (should be {correct})")
        hs = hubspot_client(sandbox.env)
        page = hs.crm.contacts.basic_api.get_page(limit=3, properties=["email", "firstname", "lastname"])
        for contact in page.results:
            print(f"hubspot contact {contact.id}: {contact.properties['email']}")


if __name__ == "__main__":
    main()
