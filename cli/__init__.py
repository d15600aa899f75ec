"""The ``rgrid`` command line.

The CLI is synchronous, but httpcore probes for trio when httpx is imported, which costs
0.13 s of every command's start where trio happens to be installed; marking it absent
here, before any module of the CLI imports httpx, skips that."""

import sys

sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
