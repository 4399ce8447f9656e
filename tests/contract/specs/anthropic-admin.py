#!/usr/bin/env python3
"""Writes anthropic-admin.json: the request and response schemas of the Admin API endpoints the
`anthropic` provider calls, taken from Anthropic's official Python SDK (whose types are generated
from Anthropic's OpenAPI description), as JSON Schemas keyed by "METHOD /path/{param}".

    python3 -m venv /tmp/venv-anthropic && /tmp/venv-anthropic/bin/pip install anthropic
    /tmp/venv-anthropic/bin/python anthropic-admin.py
"""

import json
import os
import sys
from importlib.metadata import version

from pydantic import TypeAdapter

from anthropic.types.organization.api_key import APIKey
from anthropic.types.organization.api_key_list_params import APIKeyListParams
from anthropic.types.organization.api_key_update_params import APIKeyUpdateParams
from anthropic.types.organization.workspace import Workspace
from anthropic.types.organization.workspace_list_params import WorkspaceListParams
from anthropic.types.organization.workspace_member import WorkspaceMember
from anthropic.types.organization.workspace_update_params import WorkspaceUpdateParams
from anthropic.types.organization.workspaces.member_add_params import MemberAddParams
from anthropic.types.organization.workspaces.member_list_params import MemberListParams
from anthropic.types.organization.workspaces.member_remove_response import MemberRemoveResponse
from anthropic.types.organization.workspaces.member_update_params import MemberUpdateParams


def schema(kind):
    return TypeAdapter(kind).json_schema()


def page(kind):
    """A page of a list endpoint (anthropic.pagination.SyncPage, as the API reference documents
    it: data, has_more, first_id, last_id)."""
    item = schema(kind)
    defs = item.pop("$defs", {})
    return {
        "type": "object",
        "required": ["data", "has_more", "first_id", "last_id"],
        "properties": {
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
        },
        "$defs": defs,
    }


WORKSPACES = "/v1/organizations/workspaces"
WORKSPACE = WORKSPACES + "/{workspace_id}"
MEMBERS = WORKSPACE + "/members"
MEMBER = MEMBERS + "/{user_id}"
API_KEYS = "/v1/organizations/api_keys"
API_KEY = API_KEYS + "/{api_key_id}"

operations = {
    f"GET {WORKSPACES}": {"query": schema(WorkspaceListParams), "response": page(Workspace)},
    f"GET {WORKSPACE}": {"response": schema(Workspace)},
    f"POST {WORKSPACE}": {"body": schema(WorkspaceUpdateParams), "response": schema(Workspace)},
    f"POST {WORKSPACE}/archive": {"response": schema(Workspace)},
    f"GET {MEMBERS}": {"query": schema(MemberListParams), "response": page(WorkspaceMember)},
    f"POST {MEMBERS}": {"body": schema(MemberAddParams), "response": schema(WorkspaceMember)},
    f"GET {MEMBER}": {"response": schema(WorkspaceMember)},
    f"POST {MEMBER}": {"body": schema(MemberUpdateParams), "response": schema(WorkspaceMember)},
    f"DELETE {MEMBER}": {"response": schema(MemberRemoveResponse)},
    f"GET {API_KEYS}": {"query": schema(APIKeyListParams), "response": page(APIKey)},
    f"GET {API_KEY}": {"response": schema(APIKey)},
    f"POST {API_KEY}": {"body": schema(APIKeyUpdateParams), "response": schema(APIKey)},
}


def without_path_parameters(key, operation):
    """The SDK's params types also hold the path parameters (sent in the path, not the body)."""
    names = {part[1:-1] for part in key.split("/") if part.startswith("{")}
    for part in ("query", "body"):
        schema = operation.get(part)
        if schema:
            for name in names:
                schema.get("properties", {}).pop(name, None)
            if "required" in schema:
                schema["required"] = [r for r in schema["required"] if r not in names]
    return operation


operations = {key: without_path_parameters(key, op) for key, op in operations.items()}

document = {
    "info": {
        "title": "Anthropic Admin API: the endpoints the anthropic provider calls",
        "x-source": f"anthropic (Python SDK) {version('anthropic')} types, by anthropic-admin.py",
    },
    "operations": operations,
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "anthropic-admin.json")
with open(out, "w") as f:
    json.dump(document, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"{out}: {len(operations)} operations, anthropic {version('anthropic')}", file=sys.stderr)
