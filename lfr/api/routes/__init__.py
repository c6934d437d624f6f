"""The API's routers, one per area."""

__all__: list[str] = []
