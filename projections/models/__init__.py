"""The read models, one package each: tables, handlers (SQL, the live path), folds (rows in
memory, rebuilds) and the declaration that ties them to event types."""
