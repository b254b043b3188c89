"""Raw loads: files of one feed-month in, typed rows or rejects out."""
