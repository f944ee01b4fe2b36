"""Route modules: each route translates HTTP to one Gateway call and back."""
