"""HTTP layer only: settings, app factory with lifespan, routers, error mapping."""
