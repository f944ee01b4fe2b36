"""The console's pages: one module each, each with its own `router` (made by `web.page_router`)."""
