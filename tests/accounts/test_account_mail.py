"""Mail the sign-in pages send (a password reset): a mail server that fails is a clear page."""

from __future__ import annotations


def test_it_sends_the_password_reset_mail(client, viewer, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "vera@example.com"})
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["vera@example.com"]]


def test_a_mail_server_that_is_down_is_a_clear_message(client, viewer, unreachable_mail, caplog):
    response = client.post("/accounts/password/reset/", {"email": "vera@example.com"})

    assert response.status_code == 503
    page = response.content.decode()
    assert "could not send the email" in page and "Nothing was sent" in page
    assert "vera@example.com" not in caplog.text
    assert "could not send password_reset_key email: ConnectionRefusedError" in caplog.text
