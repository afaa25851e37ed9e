"""tagtrail: an OCI registry that remembers every digest each tag has pointed to."""

__version__ = "0.1.0"
