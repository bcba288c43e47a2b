"""``python -m chaosbench_py`` is the ``chaosbench`` command."""

import sys

from .cli import main

sys.exit(main())
