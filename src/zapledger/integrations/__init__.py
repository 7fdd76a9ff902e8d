"""Bridges from the stored history to the tools owners already use (Home Assistant, ...).

Each module imports its optional dependency itself; importing this package costs nothing.
"""
