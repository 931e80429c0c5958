"""The results document's name and versions: `scarce eval` writes them, `scarce report` and
`eval --out` read them, from this one place."""

from __future__ import annotations

import re

SCHEMA = "scarce-results"
SCHEMA_VERSION = 1  # what this version writes
SCHEMA_VERSIONS = (1,)  # what this version reads
# how a results document begins (its first key): what `eval --out` may replace
RESULTS_START = re.compile(rb'\s*\{\s*"schema":\s*"' + re.escape(SCHEMA.encode()) + rb'"')
