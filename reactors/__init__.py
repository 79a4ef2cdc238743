"""Side effects of events that leave the system: mail (docs/operations.md, "Mail")."""
