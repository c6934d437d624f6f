"""lfr: open, accountable live facial recognition. The runtime package."""

__version__ = "0.1.0"
