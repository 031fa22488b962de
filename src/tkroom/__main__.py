"""``python -m tkroom`` and the ``tkroom`` command.

The command belongs to the node, whose libraries are the ``server`` extra; with the Python SDK
alone installed (``pip install tkroom``) it says so in one line instead of a traceback.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Run the CLI; a missing third-party module means the server extra is not installed."""
    try:
        from tkroom.cli import main as cli_main

        return cli_main()
    except ModuleNotFoundError as e:
        if not e.name or e.name.split(".")[0] == "tkroom":
            raise
        print(f"tkroom: the module {e.name!r} is missing; the node needs the server extra: "
              "pip install 'tkroom[server]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
