"""Stand-in actions for the runner's own tests (found through a test spec, as real ones are)."""
