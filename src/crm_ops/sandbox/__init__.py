"""Local emulators of the Salesforce and HubSpot APIs, with seeded data, defects and faults."""
