"""The paper's chapters, one package each, above the engine (:mod:`eoslib`).

Each package holds one chapter's analysis: its ``experiment`` (the runs and their presets),
its ``claims`` (the statistics behind each verdict) and its ``figures``, plus the pieces only
that chapter uses. A chapter imports the engine and its own package, never another chapter;
the engine never imports a chapter (``tests/test_layers.py``). A notebook may compose chapters:
chapter 9's calls chapters 3 and 4's functions on its own configs.

- :mod:`eoslib.chapters.dln`: chapter 1, diagonal linear networks (Sections 3.1-3.2, App. A-C,
  E): ``claims``, ``sums`` (sums of DLNs, App. E), ``som`` (an MLP as a sum over paths, App.
  A.1), ``figures`` (the theory itself is the engine's :mod:`eoslib.dln`).
- :mod:`eoslib.chapters.rotations`: chapter 2, rotations of the sharpest directions through
  instabilities (Section 3.2, App. D): ``experiment``, ``claims``, ``resolution`` (smooth DLN
  versus sharp MLP resolution), ``period2`` (App. D's period-2 process), ``figures``.
- :mod:`eoslib.chapters.flattening`: chapter 3, the landscape through an instability cycle and
  Figure 4 (Section 3.3, App. H): ``experiment``, ``claims``, ``landscape``, ``figures``.
- :mod:`eoslib.chapters.generalization`: chapters 4 and 6, the learning-rate grids on
  Fashion-MNIST and CIFAR-10 (Sections 4.1-4.3, App. F, I): ``experiment``, ``claims``,
  ``cifar_claims``, ``cost``, ``param_counts``, ``figures``, ``cifar_figures``.
- :mod:`eoslib.chapters.drivers`: chapter 5, what drives the instabilities (App. G):
  ``experiment``, ``claims``, ``interventions`` (Figure 10's per-direction learning rates),
  ``figures``.
- :mod:`eoslib.chapters.initialization`: chapter 7 (the book's Appendix F), how the
  initialization moves the edge of stability: ``experiment``, ``figures``.
- :mod:`eoslib.chapters.your_model`: chapter 8, the diagnostics on a model of one's own:
  ``experiment``, ``claims``, ``figures``.
- :mod:`eoslib.chapters.squared_loss`: chapter 9 (beyond the paper), chapters 3 and 4 under
  the squared loss: ``experiment``, ``figures``.
"""
