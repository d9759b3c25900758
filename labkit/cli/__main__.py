"""``python -m labkit.cli``: the same as the ``labkit`` command."""

import sys

from labkit.cli.main import main

sys.exit(main())
