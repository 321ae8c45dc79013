"""The package version (a leaf module: setup.cfg, run records and export reports read it)."""

__version__ = "0.1.0"
