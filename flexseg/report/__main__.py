"""``python -m flexseg.report``: see :mod:`flexseg.report.cli`."""
import sys

from flexseg.report.cli import main

sys.exit(main())
