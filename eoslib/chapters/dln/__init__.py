"""Chapter 1, diagonal linear networks (Sections 3.1-3.2, App. A-C, E): ``claims``, ``sums`` (sums
of DLNs, App. E), ``som`` (an MLP as a sum over paths, App. A.1), ``figures`` (the theory itself
is the engine's :mod:`eoslib.dln`); the map: :mod:`eoslib.chapters`.
"""
