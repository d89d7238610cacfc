"""Chapters 4 and 6, the learning-rate grids on Fashion-MNIST and CIFAR-10 (Sections 4.1-4.3, App.
F, I): ``experiment``, ``claims``, ``cifar_claims``, ``cost``, ``param_counts``, ``figures``,
``cifar_figures``; the map: :mod:`eoslib.chapters`.
"""
