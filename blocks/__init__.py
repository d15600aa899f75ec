"""Prefect blocks of RGrid (object storage, Hetzner token, runtime catalogue): to come."""
