"""Chapter 8, the diagnostics on a model of one's own: ``experiment``, ``claims``, ``figures``.
(the map: :mod:`eoslib.chapters`).
"""
