"""Query functions: each takes the session first and never commits (services do)."""
