"""``python -m transferstudy <stage> [options]``: the command line (``transferstudy.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
