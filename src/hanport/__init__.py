"""hanport: HAN port software for Nordic smart electricity meters."""

__version__ = "0.1.0"
