"""Gitward: a self-hosted Git SSH server with keys and organization certificate authorities."""

__version__ = "0.1.0"
