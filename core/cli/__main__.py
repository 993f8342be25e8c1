"""`python -m core.cli`: the `wardgate` command without its installed script."""

import sys

from core.cli import main

sys.exit(main())
