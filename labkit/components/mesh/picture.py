"""The mesh's data path as a picture (SVG), drawn from the live mesh (names, IPs, ports, mTLS) or from its spec.

>>> data_path(MeshSpec(control="xds"))          # plan mode: what would be built          # doctest: +SKIP
>>> data_path(mesh)                             # live: container names and IPs           # doctest: +SKIP
>>> kind_path("istio-ambient")                  # the same request through ztunnel        # doctest: +SKIP

A small SVG builder of its own (boxes, arrows, labels); the object shows itself in Jupyter and ``save()``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from labkit.components.mesh import envoy
from labkit.components.mesh.spec import MeshSpec, check_mesh

BLUE, GREEN, GREY, RED, INK = "#dbe9f6", "#dff0d8", "#f2f2f2", "#b03a2e", "#222"


@dataclass
class Svg:
    width: int = 940
    height: int = 400
    parts: list[str] = field(default_factory=list)

    def box(self, x: float, y: float, w: float, h: float, title: str, sub: str = "", *, fill: str = GREY,
            dashed: bool = False) -> Svg:
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{INK}"{dash}/>')
        self.text(x + w / 2, y + 18, title, bold=True)
        for i, line in enumerate(sub.split("\n") if sub else []):
            self.text(x + w / 2, y + 34 + 14 * i, line, size=11)
        return self

    def text(self, x: float, y: float, s: str, *, size: int = 12, bold: bool = False, color: str = INK,
             anchor: str = "middle") -> Svg:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{weight} '
                          f'font-family="sans-serif">{escape(s)}</text>')
        return self

    def arrow(self, x1: float, y1: float, x2: float, y2: float, label: str = "", *, color: str = INK,
              dashed: bool = False, above: bool = True) -> Svg:
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        self.parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2"{dash} '
                          'marker-end="url(#head)"/>')
        if label:
            self.text((x1 + x2) / 2, (y1 + y2) / 2 + (-7 if above else 15), label, size=11, color=color)
        return self

    def render(self) -> str:
        head = ('<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
                f'<path d="M0,0 L10,4 L0,8 z" fill="{INK}"/></marker></defs>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}">{head}{"".join(self.parts)}</svg>')

    def _repr_svg_(self) -> str:
        return self.render()

    def __repr__(self) -> str:  # what a text-only output shows (papermill logs): the title, not the markup
        title = next((p.split(">", 1)[1].split("<", 1)[0] for p in self.parts if "font-weight" in p), "")
        return f"<SVG picture {self.width}×{self.height}: {title}>"

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(self.render())
        return out


def _facts(source: Any) -> dict[str, Any]:
    """What the picture needs, from a live Mesh (names, IPs) or a MeshSpec (the plan)."""
    spec = source if isinstance(source, MeshSpec) else source.spec
    facts: dict[str, Any] = {"spec": spec, "live": not isinstance(source, MeshSpec), "client": "client",
                             "server": "server-v1", "client_ip": "", "server_ip": "", "network": "mesh network"}
    if facts["live"]:
        c, s = source.pod("client"), source.pod("server-v1")
        facts.update(client=c.app.name, server=s.app.name, client_ip=c.ip, server_ip=s.ip, network=source.network)
    return facts


def data_path(source: Any) -> Svg:
    """One request from the client's app to the server's app through both sidecars (engine tier)."""
    f = _facts(source)
    spec: MeshSpec = f["spec"]
    svg = Svg()
    title = "live: " + f["network"] if f["live"] else "plan (nothing runs yet)"
    svg.text(470, 20, f"engine-tier mesh data path — {title}", size=13, bold=True)
    control = {"static": "static bootstrap (restart to change)",
               "file": "watched file /etc/mesh/dyn (rename to change)",
               "xds": f"labkit-xds :{envoy.XDS_PORT} (REST-JSON, polled 1 s)"}[spec.control]
    svg.box(330, 34, 280, 44, "control plane", control, fill=GREEN, dashed=spec.control != "xds")
    for x, pod, ip in ((20, f["client"], f["client_ip"]), (500, f["server"], f["server_ip"])):
        svg.box(x, 100, 420, 210, f"pod {pod}", ip, fill="#fbfbfb")
    svg.box(40, 150, 150, 60, "app (client)", "uid 1000, no capabilities", fill=BLUE)
    svg.box(250, 150, 150, 60, "Envoy :15001", "outbound; uid 1337", fill=GREEN)
    svg.box(520, 150, 150, 60, "Envoy :15006", "inbound; uid 1337", fill=GREEN)
    svg.box(730, 150, 170, 60, "app (server) :8080", "sees x-forwarded-client-cert", fill=BLUE)
    svg.arrow(190, 180, 250, 180, "iptables")
    svg.text(220, 230, "OUTPUT → REDIRECT", size=10)
    wire = f"mTLS {spec.tls} · SPIFFE IDs checked" if spec.mtls_on else "plaintext HTTP/1.1"
    svg.arrow(400, 180, 520, 180, wire, color=GREEN if spec.mtls_on else RED)
    svg.text(460, 230, "the wire (tcpdump here)", size=10)
    svg.arrow(670, 180, 730, 180, "127.0.0.1")
    svg.text(700, 230, "plaintext inside the pod", size=10)
    svg.text(560, 130, "PREROUTING → REDIRECT :15006", size=10, anchor="start")
    svg.arrow(430, 78, 330, 148, "routes, clusters" if spec.control == "xds" else "", dashed=True)
    svg.arrow(510, 78, 600, 148, "", dashed=True)
    svg.box(330, 330, 280, 50, "Prometheus (chapter 05)", "scrapes :15000/stats/prometheus", dashed=True)
    svg.arrow(400, 330, 325, 212, "", dashed=True)
    svg.arrow(540, 330, 595, 212, "", dashed=True)
    svg.text(20, 395, "init step: mesh-iptables.sh with NET_ADMIN only, then exits · the sidecar has no capabilities "
             "· uid 1337 and port 15000 are exempt from the capture", size=10, anchor="start")
    return svg


def kind_path(mesh: str) -> Svg:
    """The same request on kind: Linkerd's or Istio's sidecars, or Istio ambient's per-node ztunnel (no sidecar)."""
    check_mesh(mesh, tier="kind")
    svg = Svg(height=330)
    cp = {"linkerd": "linkerd-destination, linkerd-identity, proxy-injector (ns linkerd)",
          "istio": "istiod (ns istio-system): config, certificates, injection",
          "istio-ambient": "istiod + istio-cni node agent (ns istio-system)"}[mesh]
    svg.text(470, 20, f"kind tier: {mesh}", size=13, bold=True)
    svg.box(270, 34, 400, 44, "control plane", cp, fill=GREEN)
    if mesh == "istio-ambient":
        for x, who in ((20, "client"), (500, "server")):
            svg.box(x, 100, 420, 190, f"node ({who}'s)", "", fill="#fbfbfb")
            svg.box(x + 20 if who == "client" else x + 250, 150, 150, 60, f"pod {who}", "no sidecar", fill=BLUE)
            svg.box(x + 250 if who == "client" else x + 20, 150, 150, 60, "ztunnel", "DaemonSet, L4 only", fill=GREEN)
        svg.arrow(190, 180, 270, 180, "istio-cni redirect")
        svg.arrow(420, 180, 520, 180, "HBONE mTLS :15008", color=GREEN)
        svg.arrow(670, 180, 750, 180, "")
        svg.text(470, 310, "identity: ztunnel presents each pod's SPIFFE ID; L7 (retries, splits) needs a waypoint",
                 size=11)
    else:
        proxy = "linkerd2-proxy (Rust)" if mesh == "linkerd" else "istio-proxy (Envoy)"
        for x, who in ((20, "client"), (500, "server")):
            svg.box(x, 100, 420, 190, f"pod {who}", "", fill="#fbfbfb")
        svg.box(40, 150, 150, 60, "app (client)", "", fill=BLUE)
        svg.box(250, 150, 150, 60, proxy, "native sidecar", fill=GREEN)
        svg.box(520, 150, 150, 60, proxy, "native sidecar", fill=GREEN)
        svg.box(730, 150, 170, 60, "app (server)", "", fill=BLUE)
        svg.arrow(190, 180, 250, 180, "iptables")
        svg.arrow(400, 180, 520, 180, "mTLS (automatic)", color=GREEN)
        svg.arrow(670, 180, 730, 180, "")
        header = "l5d-client-id" if mesh == "linkerd" else "X-Forwarded-Client-Cert"
        svg.text(470, 310, f"the server's app sees the caller's identity in {header}", size=11)
    svg.arrow(430, 78, 330, 148, "", dashed=True)
    svg.arrow(510, 78, 600, 148, "", dashed=True)
    return svg
