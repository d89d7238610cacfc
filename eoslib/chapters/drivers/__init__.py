"""Chapter 5, what drives the instabilities (App. G): ``experiment``, ``claims``, ``interventions``
(Figure 10's per-direction learning rates), ``figures``; the map: :mod:`eoslib.chapters`.
"""
