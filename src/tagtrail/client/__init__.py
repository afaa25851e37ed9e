"""The user's side of tag history: a registry client that works against any registry.

One concept per module; imports point downward (cli -> client -> types/times/errors):

- ``errors``        the client's exception tree: every failure is one clear line; what an
                    OCI error body says
- ``reference``     image references (``host/name:tag@digest``) and registry endpoints
- ``times``         ``--start``/``--end``/``--at`` values: timestamps, dates, durations ago
- ``dockerconfig``  credentials the way docker finds them (``auths``, credential helpers)
- ``schemes``       HTTPS or plain HTTP: loopback fallback, TLS/HTTP mismatches in words
- ``auth``          the bearer-challenge (Docker token) flow as an ``httpx.Auth``
- ``session``       an HTTP session to one registry: authenticated requests, failures in words
- ``sessions``      one session per registry host, sharing the credentials
- ``manifests``     resolving tags, reading and writing manifests, index platforms
- ``history``       both history APIs: full history past the page cap, deletions and the
                    tag's state where the OCI extension is served, point-in-time lookups
- ``formats``       history output: table, json, yaml, csv
- ``rewrite``       finding and editing image references in Dockerfiles and YAML files
- ``pinning``       planning pins: which references to pin, update or report
"""
