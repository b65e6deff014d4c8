"""PagerDuty transport: REST API v2 and Events API v2 over one HTTP session."""
