"""The HTTP surface: an ASGI app of thin handlers over the registry use cases."""
