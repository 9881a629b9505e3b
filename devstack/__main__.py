"""`python -m devstack` (what `make run` runs): start the local stack in the foreground."""

import sys

from devstack.stack import main

sys.exit(main())
