"""WebSocket routes, mounted under /ws/ by syncportal.asgi."""

websocket_urlpatterns: list = []
