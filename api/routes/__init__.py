"""Route modules: each route translates HTTP to one call on its concept's service (api/service/) and back."""
