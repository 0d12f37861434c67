"""Rules: validation across rows, run lifecycle, search, caching."""
