"""Blob bytes: a driver protocol and its implementations. Drivers know nothing of tags."""
