"""Packetizer: retroactive prior-authorization request packets."""

__version__ = "0.1.0"
