"""Chapter 2, rotations of the sharpest directions through instabilities (Section 3.2, App. D):
``experiment``, ``claims``, ``resolution`` (smooth DLN versus sharp MLP resolution), ``period2``
(App. D's period-2 process), ``figures``; the map: :mod:`eoslib.chapters`.
"""
