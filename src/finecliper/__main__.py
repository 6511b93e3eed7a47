"""`python -m finecliper` is the same as the `finecliper` console script."""

import sys

from finecliper.cli import main

sys.exit(main())
