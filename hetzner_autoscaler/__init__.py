"""The Hetzner autoscaler (SPEC 4-1 … 4-5): to come."""
