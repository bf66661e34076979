"""Identity settings fail loudly with one line naming the variable."""

from __future__ import annotations

import pytest

from tests.test_settings import manage, production_env


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"OIDC_SERVER_URL": "https://idp.example.com"}, "OIDC_CLIENT_ID is required"),
        (
            {
                "OIDC_SERVER_URL": "http://idp.example.com",
                "OIDC_CLIENT_ID": "c",
                "OIDC_CLIENT_SECRET": "s",
            },
            "OIDC_SERVER_URL must use https://",
        ),
        ({"OIDC_GROUP_MAP": "engineers=data:owner"}, "OIDC_GROUP_MAP entry 'engineers=data:owner'"),
        ({"LOCAL_LOGIN_ENABLED": "0"}, "LOCAL_LOGIN_ENABLED=0 needs OIDC_SERVER_URL"),
        ({"MFA_REQUIRED": "perhaps"}, "MFA_REQUIRED='perhaps' is not a boolean"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT=-1 is below the minimum of 0"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, "FORWARDED_ALLOW_IPS is not used"),
        ({"SESSION_IDLE_TIMEOUT": "59"}, "SESSION_IDLE_TIMEOUT=59 is below the minimum of 60"),
        (
            {"SESSION_ABSOLUTE_TIMEOUT": "299"},
            "SESSION_ABSOLUTE_TIMEOUT=299 is below the minimum of 300",
        ),
        (
            {"REAUTHENTICATION_TIMEOUT": "29"},
            "REAUTHENTICATION_TIMEOUT=29 is below the minimum of 30",
        ),
    ],
)
def test_bad_identity_settings_stop_startup(overrides, expected):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("syncportal: configuration error: ")
    assert expected in result.stderr


def test_a_complete_sso_configuration_passes_the_deployment_check():
    env = production_env(
        OIDC_SERVER_URL="https://idp.example.com/realms/company",
        OIDC_CLIENT_ID="syncportal",
        OIDC_CLIENT_SECRET="s3cret-value",
        OIDC_GROUP_MAP="engineers=data-platform:operator",
        LOCAL_LOGIN_ENABLED="0",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
