"""Make the PrometheusRule for prometheus-operator users from prometheus/rules.yml, so the two never differ.

The rule groups are copied as text, comments included, indented under ``spec:``; the copy is then parsed
and compared with the source, so a copy that YAML would read differently is an error, not a file.

Usage::

    python -m scripts.prometheus_rule            # print the PrometheusRule
    python -m scripts.prometheus_rule --write    # write deploy/kubernetes/prometheus-operator/prometheusrule.yaml

tests/deploy/test_kubernetes.py fails while the committed file is not what this prints.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = REPO_ROOT / "prometheus" / "rules.yml"
OUTPUT_PATH = REPO_ROOT / "deploy" / "kubernetes" / "prometheus-operator" / "prometheusrule.yaml"
WRITE_COMMAND = "python -m scripts.prometheus_rule --write"
GROUPS_LINE = re.compile(r"^groups:\s*(#.*)?$")
HEADER = f"""\
# Generated from prometheus/rules.yml by `{WRITE_COMMAND}`: do not edit.
# Change prometheus/rules.yml and run that again; tests/deploy fails while the two differ.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: synthetic-monitor
  labels:
    app.kubernetes.io/name: synthetic-monitor
spec:
"""


def render(rules_text: str) -> str:
    """The PrometheusRule manifest holding the groups of ``rules_text``; ValueError if they cannot be copied."""
    source = yaml.safe_load(rules_text)
    if not isinstance(source, dict) or set(source) != {"groups"}:
        keys = sorted(source) if isinstance(source, dict) else type(source).__name__
        raise ValueError(f"prometheus/rules.yml must hold only a top-level groups: list, got {keys}")
    lines = rules_text.splitlines()
    start = next((number for number, line in enumerate(lines) if GROUPS_LINE.match(line)), None)
    if start is None:
        raise ValueError("prometheus/rules.yml has no line 'groups:' at the start of a line; write the key plainly")
    body = "".join(f"  {line}\n" if line else "\n" for line in lines[start:])
    manifest = HEADER + body
    if yaml.safe_load(manifest)["spec"]["groups"] != source["groups"]:
        raise ValueError("the groups of prometheus/rules.yml read differently once indented under spec:")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Print the PrometheusRule, or write it with --write; exit 2 with a one-line error if it cannot."""
    parser = argparse.ArgumentParser(prog="python -m scripts.prometheus_rule", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT_PATH.relative_to(REPO_ROOT)}")
    args = parser.parse_args(argv)
    try:
        manifest = render(RULES_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.write:
        OUTPUT_PATH.write_text(manifest, encoding="utf-8")
    else:
        sys.stdout.write(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
