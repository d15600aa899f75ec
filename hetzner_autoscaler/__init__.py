"""The Hetzner autoscaler (SPEC 4-1 … 4-5): looks at the queue, decides, and creates or
retires worker nodes through hcloud; `python -m hetzner_autoscaler` runs it."""
