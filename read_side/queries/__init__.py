"""The read models' SQL, one module per resource; every query function returns contract rows."""
