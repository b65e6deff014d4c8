"""python -m pagerduty_plugin.sandbox"""
from .cli import main

raise SystemExit(main())
