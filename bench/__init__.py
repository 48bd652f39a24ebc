"""`python -m bench`: throughput, latency and freshness of the Supply Store next to the raw limits of its parts."""
