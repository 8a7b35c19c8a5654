"""``python -m quantum <cmd>``: see quantum/cli.py."""

import sys

from quantum.cli import main

if __name__ == "__main__":
    sys.exit(main())
