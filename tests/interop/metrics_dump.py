"""Scrapes an OpenMetrics endpoint and parses it with the Prometheus project's own parser
(prometheus_client), then prints what it read as one JSON object, so a Rust test can assert on
the parsed series:

  {"content_type": "...", "families": [{"name", "type", "unit", "help",
                                        "samples": [{"name", "labels", "value"}]}]}

A scrape the parser refuses fails with the parser's error (exit 1).

usage: python metrics_dump.py METRICS_URL
"""
import json
import math
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1]) as r:
    content_type = r.headers["Content-Type"]
    text = r.read().decode()

families = []
for f in text_string_to_metric_families(text):
    families.append({
        "name": f.name,
        "type": f.type,
        "unit": f.unit,
        "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels,
                     "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples],
    })
print(json.dumps({"content_type": content_type, "families": families}))
