"""Publishing the marts for readers: a new file swapped in atomically."""
