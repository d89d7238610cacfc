"""eoslib: gradient descent at the edge of stability.

A small functional JAX library behind the book reproducing Wang & Roberts,
*Can Stability Be Detrimental? Better Generalization through Gradient Descent
Instabilities*. Import the modules you need; each has one job:

- theory: :mod:`eoslib.dln` (diagonal linear networks, Sections 3.1-3.2, Appendices B-C);
- Hessian spectra: :mod:`eoslib.hvp` (Hessian-vector products), :mod:`eoslib.lanczos`
  (top-k eigenpairs), :mod:`eoslib.tracking` (warm-started tracking),
  :mod:`eoslib.similarity` (eigenvector and subspace similarity),
  :mod:`eoslib.sharpening` (progressive-sharpening factor, Appendix G);
- training: :mod:`eoslib.data`, :mod:`eoslib.models`, :mod:`eoslib.losses`,
  :mod:`eoslib.schedules`, :mod:`eoslib.train` (full-batch GD), :mod:`eoslib.sweep`
  (vmapped, sharded sweeps), :mod:`eoslib.results` (resumable results store),
  :mod:`eoslib.provenance`;
- analysis and reporting: :mod:`eoslib.instability` (spikes, rotations through them),
  :mod:`eoslib.params` (chapter presets), :mod:`eoslib.report` (claims tables),
  :mod:`eoslib.figures` (the paper's figures).
"""

__version__ = "0.1.0"
