"""Bridges to the tools owners already use: Home Assistant (statistics import, MQTT), Prometheus.

Each module imports its optional dependency itself (``zapledger[ha]``, ``[mqtt]``,
``[prometheus]``); importing this package costs nothing.
"""
