"""What both HTTP edges share and nothing else imports: security headers, CORS, client
addresses behind proxies, and rate limits kept in PostgreSQL so every replica counts
together (docs/operations.md, "Hostile clients")."""
