"""Tests of deploy/: the Kubernetes manifests, built and validated without a cluster."""
