"""Chapter 7 (the book's Appendix F), how the initialization moves the edge of stability:
``experiment``, ``figures``; the map: :mod:`eoslib.chapters`.
"""
