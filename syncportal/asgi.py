"""The ASGI application: Django for HTTP, Channels for WebSockets (`/ws/...`)."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncportal.settings")

from django.core.asgi import get_asgi_application

from syncportal.env import ConfigError

try:
    django_asgi_app = get_asgi_application()
except ConfigError as exc:
    sys.stderr.write(f"syncportal: configuration error: {exc}\n")
    raise SystemExit(2) from None

# Imported after Django is set up: the consumers import models.
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from syncportal.routing import websocket_urlpatterns

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
