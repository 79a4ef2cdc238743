"""What operators read from the read database: each partition's position and lag, the ops
page's figures, the lag gauges."""
