"""The read side: SQL query functions over read models and the query API."""
