"""``python -m qcos`` runs the command line."""

import sys

from qcos.cli import main

sys.exit(main())
