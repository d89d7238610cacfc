"""Find, or fetch into the user cache, and verify the data sets: ``make data`` runs this.

Usage: ``python tools/fetch_data.py fmnist [cifar10] [--data-dir DIR]``. Prints where each data
set was found or fetched to; exits with status 1 and one paragraph (where the loaders looked, why
nothing was fetched, how to point them at a copy) when one cannot be had. See
:func:`eoslib.data.ensure`.
"""

import sys

from eoslib import data

if __name__ == "__main__":
    sys.exit(data.main())
