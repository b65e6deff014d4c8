"""PagerDuty plugin pack for automation platforms (SOAR, runbooks, CI jobs)."""

__version__ = "3.0.0"
