"""Chapter 9 (beyond the paper), chapters 3 and 4 under the squared loss: ``experiment``,
``figures``; the map: :mod:`eoslib.chapters`.
"""
