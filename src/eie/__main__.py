"""``python -m eie`` is the ``eie`` command."""

import sys

from eie.cli.main import main

sys.exit(main())
