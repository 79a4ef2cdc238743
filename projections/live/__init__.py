"""The live path: a consumer per read model or intake, applying each batch of records to the
rows, versions and positions in one transaction (docs/architecture.md)."""
