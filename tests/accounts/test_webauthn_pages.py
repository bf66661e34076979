"""WebAuthn enrolment pages work under our CSP: scripts are static files, data is inert JSON."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"


def test_the_security_key_page_needs_no_inline_script(client, viewer):
    client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    response = client.get("/accounts/2fa/webauthn/add/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs in scripts]
    static = [m.group(1) for m in sources if m]
    assert "/static/mfa/js/webauthn.js" in static
    for attrs in scripts:
        assert 'src="/static/' in attrs or 'type="application/json"' in attrs, attrs
    assert "style=" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    for url in static:
        assert client.get(url).status_code == 200
    creation = re.search(r'id="js_data"[^>]*>(.*?)</script>', html, re.S).group(1)
    assert '"creation_options"' in creation and "publicKey" in creation
