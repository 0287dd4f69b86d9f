"""bench/transformer/servers.py: what the HTTP benchmarks beside it share (batch.py,
http_compare.py): waiting for a server they started to answer /health."""
import http.client, time


def wait_ready(port, proc, what, timeout=180, poll=0.2):
    """Wait until the server on `port` (process `proc`, named `what` in errors) answers
    GET /health with 200; raise if it exits first or is not ready within `timeout` s."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(poll)
    raise RuntimeError(f"{what} not ready on port {port}")
