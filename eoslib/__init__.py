"""eoslib: gradient descent at the edge of stability.

A small functional JAX library behind the book reproducing Wang & Roberts,
*Can Stability Be Detrimental? Better Generalization through Gradient Descent
Instabilities*.
"""

__version__ = "0.1.0"
