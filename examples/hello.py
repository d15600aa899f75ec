"""Greets whoever is named on the command line."""

import os
import sys

name = " ".join(sys.argv[1:]) or "world"
greeting = os.environ.get("GREETING", "Hello")
print(f"{greeting}, {name}! (from a container, as uid {os.getuid()})")
