"""Channels: the gateway every bank or payment channel adapter implements, and the simulator."""
