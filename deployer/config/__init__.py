"""Configuration: models, the YAML loader, the repository reader and the JSON Schema export."""
