"""A plugin that calls sys.exit(0) at import: listed as failed, never ends odebench silently."""

import sys

sys.exit(0)
