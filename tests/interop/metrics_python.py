"""Parses an evc registry's /metrics (OpenMetrics text) with the Prometheus project's own parser and checks
the registry's series (names, types, labels) and that they move when requests are made.

usage: python metrics_python.py REGISTRY_URL
"""
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

url = sys.argv[1]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def scrape():
    with urllib.request.urlopen(f"{url}/metrics") as r:
        check(r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0"), "content type")
        return {f.name: f for f in text_string_to_metric_families(r.read().decode())}


def requests_to(families, route, status):
    return sum(s.value for s in families["evc_registry_http_requests"].samples
               if s.name == "evc_registry_http_requests_total"
               and s.labels.get("route") == route and s.labels.get("status") == status)


for _ in range(5):
    urllib.request.urlopen(f"{url}/subjects").read()
before = scrape()
check(before["evc_registry_http_requests"].type == "counter", "requests is a counter")
check(before["evc_registry_http_request_duration_seconds"].type == "histogram", "durations are a histogram")
check(before["evc_registry_subjects"].type == "gauge", "subjects is a gauge")
check(before["evc_registry_schemas"].type == "gauge", "schemas is a gauge")
check(before["evc_registry_answer_cache_hits"].type == "counter", "cache hits is a counter")
check(requests_to(before, "/subjects", "200") == 5, "five GET /subjects counted")
for _ in range(3):
    urllib.request.urlopen(f"{url}/subjects").read()
after = scrape()
check(requests_to(after, "/subjects", "200") == 8, "the counter moved by three")
buckets = [s for s in after["evc_registry_http_request_duration_seconds"].samples
           if s.name.endswith("_bucket") and s.labels.get("route") == "/subjects"]
check(buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 8, f"histogram buckets: {buckets[-1:]}")
print("prometheus parser: ok")
