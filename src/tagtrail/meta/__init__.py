"""Metadata: repositories, blob links, manifests, tags and their history, upload sessions."""
