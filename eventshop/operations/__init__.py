"""What operators read and decide across the packages: status of projections and the relay,
verify, dead letters and their release, the causal trace of a request."""
