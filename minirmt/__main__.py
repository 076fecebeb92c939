"""`python -m minirmt`: see cli.py."""

import sys

from minirmt.cli import main

sys.exit(main())
