"""The single-machine default: ``./scripts/dev up`` starts everything on 127.0.0.1.

It is an operator tool, not part of the ``rgrid`` client: it installs and starts the Docker
engine, builds runtime images, starts Prefect, the API and a worker, and logs the CLI in.
"""
