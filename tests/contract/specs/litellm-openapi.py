#!/usr/bin/env python3
"""Writes litellm-openapi.json: the LiteLLM proxy's own OpenAPI description, trimmed to the
admin endpoints the `litellm` provider calls and the component schemas they reference.

The description is the one every LiteLLM proxy serves at /openapi.json, generated here from the
official package without starting a server or a database:

    python3 -m venv /tmp/venv-litellm && /tmp/venv-litellm/bin/pip install 'litellm[proxy]'
    LITELLM_LOCAL_MODEL_COST_MAP=True /tmp/venv-litellm/bin/python litellm-openapi.py
"""

import json
import os
import sys
from importlib.metadata import version

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from litellm.proxy.proxy_server import app  # noqa: E402

PATHS = [
    "/key/generate",
    "/key/update",
    "/key/delete",
    "/key/list",
    "/key/block",
    "/key/unblock",
    "/team/info",
    "/team/block",
    "/team/unblock",
]

spec = app.openapi()
schemas = spec["components"]["schemas"]
kept_paths = {path: spec["paths"][path] for path in PATHS}


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                refs(schemas[name], found)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


names = set()
refs(kept_paths, names)
trimmed = {
    "openapi": spec["openapi"],
    "info": {
        "title": spec["info"]["title"],
        "version": version("litellm"),
        "x-source": "litellm.proxy.proxy_server.app.openapi(), trimmed by litellm-openapi.py",
    },
    "paths": kept_paths,
    "components": {"schemas": {name: schemas[name] for name in sorted(names)}},
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "litellm-openapi.json")
with open(out, "w") as f:
    json.dump(trimmed, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"{out}: {len(kept_paths)} paths, {len(names)} schemas, litellm {version('litellm')}", file=sys.stderr)
