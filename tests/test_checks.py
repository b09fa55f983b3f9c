"""System checks: each builds the bad configuration with override_settings."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def ids(**settings) -> list[str]:
    with override_settings(**settings):
        return sorted(m.id for m in run_checks() if m.id and m.id.startswith("django_restate"))


GOOD = {
    "ADMIN_URL": "http://127.0.0.1:9070",
    "INGRESS_URL": "http://127.0.0.1:8080",
    "DEPLOYMENT_URL": "http://127.0.0.1:8000/restate",
}


def test_good_configuration_is_clean():
    assert ids(RESTATE=GOOD, DEBUG=True) == []


def test_not_a_dict():
    assert ids(RESTATE=["ADMIN_URL"]) == ["django_restate.E001"]


def test_unknown_key_suggests_the_right_one():
    with override_settings(RESTATE={**GOOD, "ADMIN_ULR": "x"}):
        [error] = [m for m in run_checks() if m.id == "django_restate.E002"]
    assert "ADMIN_ULR" in error.msg and "ADMIN_URL" in error.hint


@pytest.mark.parametrize("key", ["ADMIN_URL", "INGRESS_URL", "DEPLOYMENT_URL"])
@pytest.mark.parametrize("value", ["127.0.0.1:9070", "ftp://host/x", "", 9070, "http://"])
def test_bad_urls(key, value):
    assert "django_restate.E003" in ids(RESTATE={**GOOD, key: value}, DEBUG=True)


def test_identity_keys_must_be_public_keys():
    assert ids(RESTATE={**GOOD, "IDENTITY_KEYS": "publickeyv1_abc"}, DEBUG=True) == ["django_restate.E004"]
    assert ids(RESTATE={**GOOD, "IDENTITY_KEYS": ["secret"]}, DEBUG=True) == ["django_restate.E004"]
    assert ids(RESTATE={**GOOD, "IDENTITY_KEYS": ["publickeyv1_abc"]}, DEBUG=False) == []


def test_empty_identity_keys_warns_in_production():
    assert ids(RESTATE=GOOD, DEBUG=False) == ["django_restate.W001"]


def test_deployment_url_must_point_at_the_endpoint():
    assert ids(RESTATE={**GOOD, "DEPLOYMENT_URL": "http://127.0.0.1:8000/other"}, DEBUG=True) == ["django_restate.E005"]
    assert (
        ids(RESTATE={**GOOD, "DEPLOYMENT_URL": "http://h/api/restate", "ENDPOINT_PATH": "/api/restate/"}, DEBUG=True)
        == []
    )


def test_endpoint_not_mounted():
    assert ids(RESTATE=GOOD, DEBUG=True, ASGI_APPLICATION=None) == ["django_restate.W002"]
    assert ids(RESTATE=GOOD, DEBUG=True, ASGI_APPLICATION="tests.asgi_apps.django_only") == ["django_restate.W002"]
    assert ids(RESTATE=GOOD, DEBUG=True, ASGI_APPLICATION="tests.asgi_apps.missing") == ["django_restate.W002"]
    assert ids(RESTATE=GOOD, DEBUG=True, ASGI_APPLICATION="tests.asgi_apps.channels_app") == []


def test_settings_are_read_at_use_not_import():
    from django_restate.conf import restate_settings

    with override_settings(RESTATE={"ADMIN_URL": "http://admin.example:1"}):
        assert restate_settings.ADMIN_URL == "http://admin.example:1"
        assert restate_settings.INGRESS_URL == "http://127.0.0.1:8080"
    assert restate_settings.ADMIN_URL != "http://admin.example:1"
    with pytest.raises(AttributeError, match="Invalid RESTATE setting: 'NOPE'"):
        restate_settings.NOPE  # noqa: B018


def test_served_services_must_be_registered_names():
    assert ids(RESTATE={**GOOD, "SERVICES": ["Cart", "Greeter"]}, DEBUG=True) == []
    with override_settings(RESTATE={**GOOD, "SERVICES": ["Cart", "Chekout"]}, DEBUG=True):
        [error] = [m for m in run_checks() if m.id == "django_restate.E007"]
    assert "RESTATE['SERVICES'] names 'Chekout'" in error.msg and error.hint == "Did you mean 'Checkout'?"
    assert ids(RESTATE={**GOOD, "SERVICES": "Cart"}, DEBUG=True) == ["django_restate.E007"]


def test_tracing_is_none_true_or_false():
    assert ids(RESTATE={**GOOD, "TRACING": "yes"}, DEBUG=True) == ["django_restate.E008"]
    assert ids(RESTATE={**GOOD, "TRACING": False}, DEBUG=True) == []


@pytest.mark.parametrize(
    "bad", [{"BACKPRESSURE": 0}, {"BACKPRESSURE": "12"}, {"BACKPRESSURE": True}, {"BACKPRESSURE": 2.5},
            {"BACKPRESSURE_TIMEOUT": 0}, {"BACKPRESSURE_TIMEOUT": "2"}, {"BACKPRESSURE_TIMEOUT": None}],
)  # fmt: skip
def test_backpressure_is_a_count_and_its_timeout_seconds(bad):
    assert ids(RESTATE={**GOOD, **bad}, DEBUG=True) == ["django_restate.E009"]


def test_backpressure_set_right_is_clean():
    assert ids(RESTATE={**GOOD, "BACKPRESSURE": 12, "BACKPRESSURE_TIMEOUT": 0.5}, DEBUG=True) == []


def test_tracing_forced_on_without_opentelemetry(monkeypatch):
    from django_restate import tracing

    monkeypatch.setattr(tracing, "available", lambda: False)
    with override_settings(RESTATE={**GOOD, "TRACING": True}, DEBUG=True):
        [error] = [m for m in run_checks() if m.id == "django_restate.E008"]
    assert "not installed" in error.msg and "django-restate[otel]" in error.hint


def test_an_endpoints_own_services_are_checked(monkeypatch):
    import tests.asgi_apps as apps
    from django_restate.asgi import RestateRouter, restate_endpoint

    monkeypatch.setattr(apps, "subset_app", RestateRouter(lambda *a: None, restate_endpoint(["Nope"])), raising=False)
    with override_settings(RESTATE=GOOD, DEBUG=True, ASGI_APPLICATION="tests.asgi_apps.subset_app"):
        [error] = [m for m in run_checks() if m.id == "django_restate.E007"]
    assert "(services=) names 'Nope'" in error.msg
