"""python -m pagerduty_plugin.sandbox"""
from .command import main

raise SystemExit(main())
