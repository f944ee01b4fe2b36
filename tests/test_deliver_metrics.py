"""`fundcenter deliver --metrics-port`: a standalone deliverer's Prometheus metrics, scraped over a socket."""

import subprocess
import time
import urllib.request

from ledger import FundCenter
from tests.serving import free_port, fundcenter_command
from tests.test_webhooks import receiver  # noqa: F401 - the fixture: a real HTTP receiver on 127.0.0.1

DELIVERED = 'fundcenter_webhook_attempts_total{outcome="delivered"} 1.0'


def scrape(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_a_standalone_deliverer_serves_its_attempts_and_backlog(tmp_path, receiver):  # noqa: F811
    url = f"sqlite:///{tmp_path}/hooks.db"  # the embedded default: a development run, local receivers allowed
    fc = FundCenter(url)
    fc.create_webhook_endpoint(receiver.url, ["account.opened"], "mall", "orders", "test")
    fc.open_account("member", "mall", "alice", "CNY", "alice")
    fc.close()
    port = free_port()
    process = subprocess.Popen([*fundcenter_command(), "deliver", "--db", url, "--metrics-port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, text = time.monotonic() + 30, ""
        while DELIVERED not in text and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            text = scrape(port)
        assert DELIVERED in text, text
        assert "fundcenter_webhook_backlog 0.0" in text and "fundcenter_database_up 1.0" in text
        assert "fundcenter_webhook_attempt_duration_seconds_count 1.0" in text
        assert "fundcenter_http_requests" not in text  # a deliverer serves no requests
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"metrics at http://127.0.0.1:{port}/metrics" in output
    assert [e["type"] for e in receiver.events()] == ["account.opened"]
