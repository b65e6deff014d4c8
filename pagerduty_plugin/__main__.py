import sys

from pagerduty_plugin.cli import main

sys.exit(main())
