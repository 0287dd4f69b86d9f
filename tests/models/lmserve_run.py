"""lmserve_run.py: start lmserve on a port of its choosing and post JSON to it; shared by the
model tests of this folder (shipped.py, overfit.py)."""
import json
import re
import subprocess
import time
import urllib.request


def post(port, path, body, timeout):
    """POST body as JSON to 127.0.0.1:port/path; the decoded JSON answer."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def start_server(bin_path, args, log_path, start_timeout_s):
    """lmserve --port 0 ARGS, its output in log_path; (process, port) once /ready is 200."""
    log = open(log_path, "w")
    proc = subprocess.Popen([bin_path, "--host", "127.0.0.1", "--port", "0"] + args,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + start_timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("lmserve exited: " + open(log_path).read())
        m = re.search(r"listening on http://[^\s]*:(\d+)", open(log_path).read())
        if m:
            port = int(m.group(1))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=5) as r:
                    if r.status == 200:
                        return proc, port
            except OSError:
                pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("lmserve did not become ready: " + open(log_path).read())
