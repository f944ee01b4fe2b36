"""Route modules: each route translates HTTP to one call on a Caller (api/service.py) and back."""
