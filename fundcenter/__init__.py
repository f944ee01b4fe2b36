"""What a business system installs to talk to Fund Center: the HTTP client (`fundcenter.client`).

It depends on httpx only, never on the service's own packages (an import-linter contract says so).
"""
