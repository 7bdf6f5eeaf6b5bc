"""A migration guide: the legacy endpoints, what each depends on, and one OpenAPI document."""
