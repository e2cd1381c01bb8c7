"""Named looks as TOML files, and a tiny loader. Data, not code."""
