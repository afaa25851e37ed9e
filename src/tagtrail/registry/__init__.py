"""Use cases: uploads, blobs, manifests, tags and their history.

This is the only layer that sees both the metadata store and the blob driver.
"""
