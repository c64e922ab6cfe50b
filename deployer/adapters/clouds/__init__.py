"""Credentials for each kind of cluster: a `with` block that yields how to reach it.

Each provider module offers `access(...)`, a context manager yielding `ClusterAccess`; whatever
it decrypts or writes lives only inside the block.
"""
