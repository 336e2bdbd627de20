"""Strict schema validation of built objects: Kubernetes kinds by kubernetes-validate, prometheus-operator's by
the openAPIV3Schema of their CRDs (vendored in schemas/, see schemas/README.md).

Strict means what the API server does with ``kubectl apply --validate=strict``: a field the schema does not
name is an error. kubernetes-validate has strict schemas of its own; a CRD's schema is made strict here by
closing every object that lists its properties and neither allows more nor preserves unknown fields.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from tests.processes import require_module

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
# The oldest Kubernetes with the apps.kubernetes.io/pod-index label (beta in 1.28), and the newest known.
OLDEST_KUBERNETES = "1.28"
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}


def kubernetes_versions() -> list[str]:
    """The Kubernetes versions every object is validated against."""
    return [OLDEST_KUBERNETES, "latest"]


def schema_errors(item: dict[str, Any], version: str) -> list[str]:
    """Why ``item`` fails strict validation for Kubernetes ``version`` ("latest" allowed); empty if it passes."""
    if (item.get("apiVersion"), item.get("kind")) in CRD_SCHEMAS:
        # A custom resource's metadata is plain ObjectMeta: check it as a built-in object's.
        metadata_only = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": item["metadata"]}
        return _crd_errors(item) + _kubernetes_errors(metadata_only, version, _name(item))
    return _kubernetes_errors(item, version, _name(item))


def _name(item: dict[str, Any]) -> str:
    return f"{item['kind']}/{item['metadata']['name']}"


def _kubernetes_errors(item: dict[str, Any], version: str, name: str) -> list[str]:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    wanted = validator.latest_version() if version == "latest" else version
    try:
        validator.validate(item, wanted, strict=True)
    except validator.ValidationError as error:
        where = ".".join(str(part) for part in error.path)
        return [f"{name}: {where}: {error.message}"]
    except validator.SchemaNotFoundError as error:
        return [f"{name}: {error.message}"]
    return []


def _crd_errors(item: dict[str, Any]) -> list[str]:
    jsonschema = require_module("jsonschema", "kubernetes-validate")
    schema = crd_schema(item["apiVersion"], item["kind"])
    # OpenAPI v3.0 schemas use draft 4's keywords (exclusiveMinimum as a boolean, no const).
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{_name(item)}: {'.'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(item)
    ]


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The vendored openAPIV3Schema of a custom resource, made strict."""
    loaded: dict[str, Any] = json.loads((SCHEMAS_DIR / CRD_SCHEMAS[(api_version, kind)]).read_text())
    closed = _closed(loaded)
    assert isinstance(closed, dict)
    return closed


def _closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others, walking subschemas only."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    if "properties" in closed:
        closed["properties"] = {name: _closed(child) for name, child in closed["properties"].items()}
        if "additionalProperties" not in closed and not closed.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(closed.get(key), dict):
            closed[key] = _closed(closed[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in closed:
            closed[key] = [_closed(child) for child in closed[key]]
    return closed
