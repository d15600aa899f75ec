"""The ``rgrid`` command line.

Modules the CLI never uses are marked absent here, before any module of the CLI imports
httpx, because httpx and httpcore import them whenever they are installed, at a cost to
every command's start (2 cores): httpx's own command-line client (``httpx._main``, which
brings click, rich's syntax and pygments: ~0.03 s), and, when the first client is made,
trio (~0.13 s) and h2 for HTTP/2 (~0.03 s; Prefect needs it installed). The CLI is
synchronous and speaks HTTP/1.1."""

import sys

for _unused in ("httpx._main", "trio", "h2"):
    sys.modules.setdefault(_unused, None)  # type: ignore[arg-type]
