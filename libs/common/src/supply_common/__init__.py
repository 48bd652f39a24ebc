"""Shared base of the Supply Store services."""
