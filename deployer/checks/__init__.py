"""Validation rules beyond the schema. Pure: no network, no subprocess."""
