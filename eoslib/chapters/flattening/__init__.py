"""Chapter 3, the landscape through an instability cycle and Figure 4 (Section 3.3, App. H):
``experiment``, ``claims``, ``landscape``, ``figures``; the map: :mod:`eoslib.chapters`.
"""
