#!/usr/bin/env python3
"""bench/hardening/clients413.py: does each client library receive the 413 for a body over
--max-body (issue 10, item 3)? Python http.client, urllib, requests (Debian python3-requests)
and Node's fetch each POST a 3 MiB body --rounds times; prints one JSON line per client:
how many rounds got the 413 with the JSON error object, and what the others got.

  /usr/bin/python3 bench/hardening/clients413.py --port P [--rounds 20] [--mib 3]
"""
import argparse, http.client, json, os, subprocess, sys, urllib.error, urllib.request

def classify(status, body):
    try:
        code = json.loads(body)["error"]["code"]
    except Exception:
        code = None
    return "413" if status == 413 and code else "status %s code %s" % (status, code)

def via_http_client(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/v1/score", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return classify(r.status, r.read())

def via_urllib(port, body):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/score" % port, data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        r = urllib.request.urlopen(req, timeout=10)
        return classify(r.status, r.read())
    except urllib.error.HTTPError as e:
        return classify(e.code, e.read())

def via_requests(port, body):
    import requests
    r = requests.post("http://127.0.0.1:%d/v1/score" % port, data=body,
                      headers={"Content-Type": "application/json"}, timeout=10)
    return classify(r.status_code, r.content)

NODE = r"""
const [port, mib, rounds] = process.argv.slice(1).map(Number);
const body = '{"model":"x","input":"' + 'a'.repeat(mib * 1024 * 1024) + '"}';
(async () => {
  const out = {};
  for (let i = 0; i < rounds; i++) {
    let k;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v1/score`, {method: 'POST', body,
        headers: {'Content-Type': 'application/json'}});
      const t = await r.text();
      let code = null;
      try { code = JSON.parse(t).error.code; } catch (e) {}
      k = r.status === 413 && code ? '413' : `status ${r.status} code ${code}`;
    } catch (e) { k = 'error ' + (e.cause ? e.cause.code : e.message); }
    out[k] = (out[k] || 0) + 1;
  }
  console.log(JSON.stringify(out));
})();
"""

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--mib", type=int, default=3)
    a = ap.parse_args()
    body = b'{"model":"x","input":"' + b"a" * (a.mib << 20) + b'"}'
    for name, fn in (("http.client", via_http_client), ("urllib", via_urllib),
                     ("requests", via_requests)):
        seen = {}
        for _ in range(a.rounds):
            try:
                k = fn(a.port, body)
            except Exception as e:
                k = "error " + type(e).__name__
            seen[k] = seen.get(k, 0) + 1
        print(json.dumps({"client": "python " + name, "rounds": a.rounds, "got_413": seen.get("413", 0), "all": seen}))
    try:
        out = subprocess.run(["node", "-e", NODE, str(a.port), str(a.mib), str(a.rounds)],
                             capture_output=True, text=True, timeout=300).stdout.strip()
        seen = json.loads(out)
    except Exception as e:
        seen = {"error " + type(e).__name__: a.rounds}
    print(json.dumps({"client": "node fetch", "rounds": a.rounds, "got_413": seen.get("413", 0), "all": seen}))

if __name__ == "__main__":
    main()
