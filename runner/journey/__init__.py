"""The public pytest11 plugins journeys use (http, target_url, step, labels, tracing, browser)."""
