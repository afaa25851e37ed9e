"""tagtrail: an OCI registry that remembers every digest each tag has pointed to."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client (rich, click, pygments) whenever those are installed,
# and they are: rich draws tagtrail's progress bars, click is granian's. That is 7.6 MB in
# every server process and a tenth of a second of every start, for a client tagtrail never
# runs. With None in sys.modules the import fails, which httpx expects (it then defines a
# `main` that says what is missing); the `httpx` command, a process of its own, is unaffected.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
