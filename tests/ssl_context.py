"""One SSL context for the whole test run: ``verify=SHARED`` on every test's httpx client.

httpx builds an SSL context for each client it makes (``httpx.get`` and friends make one per
call), and loading the CA bundle into it takes 0.1-0.2 s, though a test registry on http://
never uses it: some 150 clients, a crash round's eight pushers and every token request paid
that. For https:// URLs this context verifies as httpx's default does; tests of TLS pass
their own.
"""

from __future__ import annotations

import httpx

SHARED = httpx.create_ssl_context()
