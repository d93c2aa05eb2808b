"""Configuration: the params schema, loading and overrides, presets, project paths, the model
catalog and the variant table."""
