"""lfr: open, accountable live facial recognition. The runtime package."""

__all__ = ["__version__"]

__version__ = "0.1.0"
