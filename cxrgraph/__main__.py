"""``python -m cxrgraph`` runs the command line."""

import sys

from cxrgraph.cli import main

sys.exit(main())
