"""The audit table: for every running container, its commit, build, digest, SBOM, signature and deployer.

Built from what is running **now**, not from the pipeline's own records:

* ``docker inspect`` of each container → the image id it really runs and its labels (the deployer's claims);
* the image → its ``RepoDigests`` (which registry digest that image id came from) and its own
  ``org.opencontainers.image.revision`` label (baked in by the build);
* the registry → is that digest still there (HEAD manifest);
* ``cosign verify`` / ``verify-attestation`` → signature (and the commit it was signed for) and SBOM now;
* the forge → is that commit part of main (``git merge-base --is-ancestor``).

Which containers: every container of the lab, and any other running container whose image comes from the
lab's registry (someone's ``docker run`` by hand). A claim that reality contradicts goes in ``problems``. A
revision label alone proves nothing (anyone can write one); the signature is what binds digest and commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkit import docker
from labkit._run import Cmd
from labkit.components.pipeline import sign
from labkit.components.pipeline.deploy import P, split_ref
from labkit.components.pipeline.settings import PART, REVISION

if TYPE_CHECKING:
    import pandas as pd

    from labkit.components.pipeline.lab import EngineLab

INFRA = {"registry", "forge", "ci"}
COLUMNS = ["container", "part", "commit", "commit_on_main", "digest", "in_registry", "signature", "signed_commit",
           "sbom", "deployed_by", "run", "image_id", "problems"]


def running(lab: EngineLab) -> list[dict[str, Any]]:
    """``docker inspect`` of the lab's containers and of any running container with an image from its registry."""
    found = {str(box.id): docker.attrs(box) for box in lab.objects.containers()}
    ps = lab.journal.run(Cmd(("docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Image}}")), stage="audit",
                         timeout=60).stdout
    for line in ps.splitlines():
        cid, _, image = line.partition(" ")
        if image.startswith(lab.registry + "/") and cid not in found:
            box = docker.container(cid)
            if box is not None:
                found[cid] = docker.attrs(box)
    return [a for a in found.values() if (a.get("State") or {}).get("Running")]


def row(lab: EngineLab, c: dict[str, Any], on_main: dict[str, bool]) -> dict[str, Any]:
    labels: dict[str, str] = dict((c.get("Config") or {}).get("Labels") or {})
    image = docker.image_attrs(str(c["Image"]))
    baked: dict[str, str] = dict((image.get("Config") or {}).get("Labels") or {})
    part = labels.get(PART) or "by hand"
    commit = baked.get(REVISION, "")
    out: dict[str, Any] = {"container": str(c["Name"]).lstrip("/"), "part": part, "commit": commit[:12] or "-",
                           "commit_on_main": "-", "digest": "-", "in_registry": "-", "signature": "-",
                           "signed_commit": "-", "sbom": "-", "deployed_by": labels.get(P + "deployer", "-"),
                           "run": labels.get(P + "run", "-"), "image_id": str(c["Image"])[7:19], "problems": []}
    problems: list[str] = out["problems"]
    if labels.get(REVISION) and commit and labels[REVISION] != commit:
        problems.append("the container's commit label differs from the image's own revision label")
    if commit and commit != "unknown":
        if commit not in on_main:
            on_main[commit] = lab.forge.on_main(commit)
        out["commit_on_main"] = "yes" if on_main[commit] else "NO"
    digests = [d for d in image.get("RepoDigests") or [] if d.startswith(lab.registry + "/")]
    if not digests:
        out["signature"] = out["sbom"] = "no registry digest"
        problems.append("infrastructure: a lab image built by `labkit images`, outside the pipeline" if part in INFRA
                        else "not from the registry: built or loaded locally")
        return out
    ref = digests[0]
    _, repo, digest = split_ref(ref)
    out["digest"] = digest[:19] + "…"
    claimed = labels.get(P + "digest")
    if claimed and claimed != digest:
        problems.append(f"its label claims {claimed[:19]}…, but {digest[:19]}… is what runs")
    out["in_registry"] = "yes" if lab.client.manifest_digest(repo, digest) else "NO"
    v = sign.verify(lab.tools, lab.journal, ref, stage="audit")
    out["signature"] = f"OK ({lab.signer})" if v.ok else f"FAIL: {v.error[:70]}"
    out["signed_commit"] = v.commit[:12] or "-"
    if v.ok and commit and v.commit != commit:
        problems.append(f"signed for commit {v.commit[:12]}, but the image says {commit[:12]}")
    a = sign.verify_attestation(lab.tools, lab.journal, ref, stage="audit")
    out["sbom"] = (f"CycloneDX, {a.claims[0]['components']} components" if a.ok and a.claims
                   else f"FAIL: {a.error[:70]}")
    return out


def rows(lab: EngineLab) -> list[dict[str, Any]]:
    on_main: dict[str, bool] = {}
    order = {"app": 0, "by hand": 1, "registry": 2, "forge": 3, "ci": 4}
    found = [row(lab, c, on_main) for c in running(lab)]
    return sorted(found, key=lambda r: (order.get(r["part"], 1), r["container"]))


def table(lab: EngineLab) -> pd.DataFrame:
    """The audit as a DataFrame (``problems`` joined into one string per row)."""
    import pandas as pd

    data = rows(lab)
    for r in data:
        r["problems"] = "; ".join(r["problems"])
    return pd.DataFrame(data, columns=COLUMNS)


def linked(table: pd.DataFrame) -> bool:
    """Does every running app container link back to a commit on main, signed for that commit?"""
    apps = table[~table["part"].isin(sorted(INFRA))]
    return bool(len(apps)) and bool(((apps["commit_on_main"] == "yes") & apps["signature"].str.startswith("OK")
                                     & (apps["signed_commit"] == apps["commit"])).all())


audit_linked = linked
