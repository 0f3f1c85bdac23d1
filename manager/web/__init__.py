"""Web plumbing every door shares: request dependencies (the farm, the clock, credentials),
the error answers in each protocol's form, and the middleware that refuse a request before any
route sees it (body size, unreadable JSON)."""
