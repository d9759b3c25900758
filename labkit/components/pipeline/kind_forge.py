"""kind tier: the forge and the CI tool belt beside the cluster, and the lab's signing key.

The engine tier's forge image runs as ``labkit-git`` on the host (``127.0.0.1:18080``) and is attached to the
``kind`` Docker network — kind's own pattern for its local registry — so Argo CD and Flux clone
``http://labkit-git:8080/app.git`` by container name. ``labkit-ci`` is the tool belt (git, skopeo, cosign,
trivy-cdxgen) on the host network, as your user, with ``<labkit home>/pipeline/kind/<cluster>`` at ``/lab``:
it reaches the forge and kind's registry (``localhost:5001``, plain HTTP) like the host does.

The cosign passphrase is made inside ``labkit-ci`` (random bytes into a 0600 file) and only ever read from
that file by cosign's stdin: it is in no argv, no environment and no plan.
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit._run import Cmd
from labkit.components.pipeline.lab import home
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.versions import environments_dir, pins

LABEL = ("--label", "io.labkit.managed=true")
KIND_REGISTRY = "https://github.com/kubernetes-sigs/kind/blob/v0.32.0/site/content/docs/user/local-registry.md"
OWN = "labkit: "


def forge_pin() -> dict[str, object]:
    return dict(pins()["components"]["pipeline"]["forge"])


def tools_image() -> str:
    spec = pins()["images"]["pipeline-tools"]
    return f"{spec['repository']}:{spec['tag']}"


def kind_dir(cluster: str) -> Path:
    return home() / "kind" / cluster


def names() -> tuple[str, str, int]:
    p = forge_pin()
    return str(p["name"]), str(p["ci_name"]), int(str(p["host_port"]))


def ci(*argv: str, workdir: str | None = None, env: dict[str, str] | None = None) -> Cmd:
    """``docker exec`` into labkit-ci (git author set for commits)."""
    _, ci_name, _ = names()
    head = ["docker", "exec"]
    if workdir:
        head += ["-w", workdir]
    for key, value in (env or {}).items():
        head += ["-e", f"{key}={value}"]
    return Cmd((*head, ci_name, *argv))


AUTHOR = {"GIT_AUTHOR_NAME": "labkit learner", "GIT_AUTHOR_EMAIL": "learner@labkit.invalid",
          "GIT_COMMITTER_NAME": "labkit learner", "GIT_COMMITTER_EMAIL": "learner@labkit.invalid"}
APP = "/lab/work/app"


def forge_plan(cfg: ClusterConfig) -> Plan:
    """Forge + tool belt + key pair + the app's first commit (with ``deploy/``, what GitOps applies)."""
    forge, ci_name, port = names()
    image = tools_image()
    lab = kind_dir(cfg.name)
    node = cfg.node_names()[0]
    dockerfile = environments_dir() / str(pins()["images"]["pipeline-tools"]["dockerfile"])
    return Plan(f"The forge and the CI tool belt beside {cfg.name}").add(
        Step("Build the pipeline tool belt image", Cmd(("docker", "build", "--tag", image, str(dockerfile.parent))),
             why="git + lighttpd (the forge), skopeo, cosign 2.5, trivy-cdxgen, FROM debian:bookworm-slim",
             check=Cmd(("docker", "image", "inspect", image)), timeout=900,
             source=OWN + "environments/images/pipeline-tools/Dockerfile (the engine tier's image)"),
        Step("Make the lab directory (keys, working copy)", Cmd(("mkdir", "-p", "-m", "700", str(lab / "keys"),
                                                                  str(lab / "work"))),
             source=OWN + "where labkit-ci keeps the key pair and the working copy"),
        Step("Create the forge's volume", Cmd(("docker", "volume", "create", *LABEL, "--label",
                                               "io.labkit.role=pipeline-forge", forge)),
             check=Cmd(("docker", "volume", "inspect", forge)), source=OWN + "the bare repositories live here"),
        Step("Start the forge (git http-backend behind lighttpd)",
             Cmd(("docker", "run", "-d", "--restart=always", "--name", forge, *LABEL, "--label",
                  "io.labkit.role=pipeline-forge", "-p", f"127.0.0.1:{port}:8080", "-v", f"{forge}:/srv/git", image,
                  "labkit-forge")),
             why="smart HTTP, what Argo CD's repo-server and Flux's go-git speak",
             check=Cmd(("docker", "inspect", "--format", "{{.State.Running}}", forge)), timeout=120,
             source=KIND_REGISTRY),
        Step("Attach the forge to the kind network", Cmd(("docker", "network", "connect", "kind", forge)),
             why=f"pods reach it as http://{forge}:8080 through kind's DNS, like kind-registry:5000",
             check=Cmd(("docker", "exec", node, "getent", "hosts", forge)), source=KIND_REGISTRY),
        Step("Start the CI tool belt (host network, as you)",
             Cmd(("docker", "run", "-d", "--restart=always", "--name", ci_name, *LABEL, "--label",
                  "io.labkit.role=pipeline-ci", "--network", "host", "--user", f"{os.getuid()}:{os.getgid()}",
                  "-e", "HOME=/lab/work", "-v", f"{lab}:/lab", "-v",
                  f"{environments_dir() / 'pipeline' / 'app'}:/seed:ro", image, "sleep", "infinity")),
             check=Cmd(("docker", "inspect", "--format", "{{.State.Running}}", ci_name)), timeout=120,
             source=OWN + "the engine tier's tool belt: every CI command runs in it"),
        Step("Make the signing passphrase (random, into a 0600 file; never shown)",
             ci("sh", "-c", 'umask 077 && head -c 24 /dev/urandom | base64 | tr -d "\\n" > "$1"', "sh",
                "/lab/keys/passphrase"),
             check=ci("test", "-s", "/lab/keys/passphrase"), source=OWN + "cosign reads it on stdin, never argv"),
        Step("Make the cosign key pair", ci("sh", "-c", 'exec cosign generate-key-pair < "$1"', "sh", "passphrase",
                                           workdir="/lab/keys"),
             why="cosign.key (encrypted) signs in CI; cosign.pub goes into the admission policy",
             check=ci("test", "-s", "/lab/keys/cosign.pub"), timeout=120,
             source="https://github.com/sigstore/cosign/blob/v2.5.0/cmd/cosign/cli/generate/generate_key_pair.go"),
        Step("Clone the empty repository", ci("git", "clone", "--quiet", f"http://127.0.0.1:{port}/app.git", APP),
             check=ci("test", "-d", f"{APP}/.git"), source=OWN + "your working copy, in /lab/work/app"),
        Step("Copy the app and its deploy/ manifests in", ci("cp", "-r", "/seed/.", APP),
             check=ci("git", "-C", APP, "rev-parse", "--verify", "--quiet", "origin/main"),
             source=OWN + "environments/pipeline/app"),
        Step("Commit and push the first version", ci("sh", "-c", 'git add -A && git commit -qm "$1" && git push -q '
                                                     'origin HEAD:main', "sh", "app: first version", workdir=APP,
                                                     env=AUTHOR),
             check=ci("git", "-C", APP, "rev-parse", "--verify", "--quiet", "origin/main"),
             source=OWN + "main now holds the app and deploy/, what Argo CD or Flux syncs"))


def forge_uninstall(cfg: ClusterConfig) -> Plan:
    forge, ci_name, _ = names()
    return Plan("Remove the forge and the CI tool belt").add(
        Step("Remove the containers", Cmd(("docker", "rm", "-f", forge, ci_name)), ok_codes=(0, 1),
             source=OWN + "labelled io.labkit.managed=true; `labkit clean` finds them too"),
        Step("Remove the forge's volume", Cmd(("docker", "volume", "rm", forge)), ok_codes=(0, 1),
             source=OWN + "the bare repositories"),
        Step("Remove the lab directory", Cmd(("rm", "-rf", str(kind_dir(cfg.name)))),
             source=OWN + "the key pair and the working copy"))
