"""``python -m devstack up|down|status``."""

from __future__ import annotations

import sys

from devstack.settings import DevSettings
from devstack.stack import DevStack
from rgrid_common.errors import RGridError


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    stack = DevStack(DevSettings())
    try:
        if command == "up":
            stack.up()
        elif command == "down":
            stack.down()
        elif command == "status":
            for name, pid in stack.status().items():
                print(f"{name:16} {'running (pid %d)' % pid if pid else 'stopped'}")
        else:
            print("usage: scripts/dev up|down|status", file=sys.stderr)
            return 2
    except RGridError as exc:
        print(f"✗ {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
