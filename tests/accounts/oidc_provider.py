"""A small OpenID provider on loopback, built on Authlib's authorization server, for the tests.

It speaks the real protocol: discovery, the authorization endpoint (consent is automatic for
the user the test chose with `sign_in_as`), the token endpoint with client authentication and
PKCE (S256, required), RS256-signed ID tokens carrying the request's nonce, JWKS and userinfo.
Knobs let a test make it misbehave: `id_token_overrides` changes claims of the next ID tokens
(a wrong `aud` or `nonce`), `sign_with_rogue_key` signs them with a key that is not published.

The user's session at the provider started at `signed_in_at` (the ID token's `auth_time`). An
authorization request with `prompt=login`, or a `max_age` that session exceeds, makes the user
sign in again at the provider (now) -- unless `ignores_reauthentication` is set, as with a
provider that does not honour those parameters. `authorize_requests` keeps each request's query.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, abort, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "profile", "email", "groups"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class OpenIDProvider:
    """Runs the provider in a thread on 127.0.0.1; `issuer` is its discovery base URL."""

    def __init__(self, client_id: str = "syncportal", client_secret: str | None = None):
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "signing-1", "use": "sig"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "signing-1", "use": "sig"})
        self.sign_with_rogue_key = False
        self.id_token_overrides: dict[str, Any] = {}
        self.user: dict[str, Any] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, dict] = {}
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.signed_in_at = time.time()
        self.ignores_reauthentication = False
        self.client: Client | None = None

        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def register_client(self, redirect_uri: str) -> None:
        self.client = Client(self.client_id, self.client_secret, [redirect_uri])

    def sign_in_as(self, sub: str, **claims: Any) -> None:
        """The person who will be signed in at the provider when the browser arrives."""
        self.user = {"sub": sub, **claims}
        self.signed_in_at = time.time()

    def _authenticate(self, params: dict[str, str]) -> int:
        """The `auth_time` of this request: a new sign-in at the provider when asked for one."""
        max_age = params.get("max_age")
        too_old = max_age is not None and time.time() - self.signed_in_at > int(max_age)
        asked = "login" in params.get("prompt", "").split() or too_old
        if asked and not self.ignores_reauthentication:
            self.signed_in_at = time.time()
        return int(self.signed_in_at)

    def start(self) -> OpenIDProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    # --- The Flask application ----------------------------------------------------------------

    def _app(self) -> Flask:
        provider = self
        app = Flask("test-openid-provider")
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 300}

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code, req):
                data = req.payload.data
                provider.codes[code] = AuthorizationCode(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.scope,
                    user=dict(req.user),
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    auth_time=provider._authenticate(data),
                )

            def query_authorization_code(self, code, client):
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class OpenIDCodeExtension(OpenIDCode):
            def exists_nonce(self, nonce, req):
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client):
                return provider.rogue_key if provider.sign_with_rogue_key else provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": "signing-1"}

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.get_client_id()]}

            def generate_user_info(self, user, scope):
                # Applied last by Authlib, so a test's overrides replace aud, nonce, ...
                return {**user, **provider.id_token_overrides}

        def query_client(client_id):
            client = provider.client
            return client if client and client.client_id == client_id else None

        def save_token(token, req):
            provider.access_tokens[token["access_token"]] = dict(req.user)

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        server.register_grant(
            CodeGrant, [OpenIDCodeExtension(require_nonce=False), CodeChallenge(required=True)]
        )

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                userinfo_endpoint=f"{provider.issuer}/userinfo",
                jwks_uri=f"{provider.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[provider.key.as_dict(private=False, alg="RS256")])

        @app.get("/authorize")
        def authorize():
            provider.authorize_requests.append(dict(request.args))
            if not provider.user:
                abort(401)
            return server.create_authorization_response(grant_user=provider.user)

        @app.post("/token")
        def token():
            provider.token_requests.append(dict(request.form))
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo():
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            user = provider.access_tokens.get(value) if scheme.lower() == "bearer" else None
            if user is None:
                abort(401)
            return jsonify(user)

        return app
