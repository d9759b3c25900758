"""Workload identities of the engine-tier mesh: SPIFFE IDs, the same shape Istio gives its workloads.

A SPIFFE ID names a workload, not a host: ``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``.
It travels as the one URI subject-alternative name of the workload's X.509 certificate (an X.509-SVID),
so a peer proves who it is by the certificate it presents in mutual TLS, whatever its IP address.

Standard library only: labkit-xds (``xds_server.py``) imports this inside its container.

>>> spiffe_id("client")
'spiffe://labkit.local/ns/default/sa/client'
"""

from __future__ import annotations

TRUST_DOMAIN = "labkit.local"
NAMESPACE = "default"


def spiffe_id(service: str, namespace: str = NAMESPACE, trust_domain: str = TRUST_DOMAIN) -> str:
    """The SPIFFE ID of ``service`` (its service account) in ``namespace`` of ``trust_domain``."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service}"


def service_of(uri: str) -> str:
    """The service account named by a SPIFFE ID (``.../sa/client`` → ``client``); "" for anything else."""
    head, sep, tail = uri.rpartition("/sa/")
    return tail if sep and head.startswith("spiffe://") and "/" not in tail else ""
