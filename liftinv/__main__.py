"""``python -m liftinv``: the same as the ``liftinv`` console command."""

import sys

from liftinv.cli import main

if __name__ == "__main__":
    sys.exit(main())
