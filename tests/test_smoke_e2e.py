import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_greeter_through_real_restate(restate_live):
    response = httpx.post(f"{restate_live.ingress_url}/Greeter/greet", json="Ada", timeout=10)
    assert response.json() == "Hello, Ada! (3 letters)"
