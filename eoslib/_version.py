"""The package version (its own module, so that eoslib's modules can read it without importing
``eoslib`` itself)."""

__version__ = "0.1.0"
