"""One small class per action, grouped by PagerDuty resource; the spec names each one."""
