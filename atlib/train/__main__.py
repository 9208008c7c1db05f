"""``python -m atlib.train ...``: see :mod:`atlib.train.cli`."""

import sys

from atlib.train.cli import main

sys.exit(main())
