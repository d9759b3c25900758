"""The engine-tier lab: forge, registry, tool belt and app, up and down in one call.

>>> with EngineLab() as lab:                                  # doctest: +SKIP
...     sha = lab.forge.change("hello, version 2")           # a developer's commit, pushed
...     result = lab.run(sha)                                # CI: clone → … → verified deploy → ready
...     lab.audit()                                           # every running container → its commit

``up`` makes, in order: the lab directory (0700), the tool belt, the lab CA and the registry's TLS
certificate, the htpasswd file, the registry (checked over verified TLS), ``docker login`` into the lab's
own Docker config (never ``~/.docker``), the cosign key pair, the forge and the app's first commit. A failed
``up`` removes what it made. The ``with`` block removes everything at its end — also on Ctrl-C and SIGTERM;
the logs of every run stay in ``logs`` (the failed stage's log is what you read next).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker, images
from labkit._run import Cmd, Runner, default_runner
from labkit.components.pipeline import ca, forge as forges, registry as registries, sign
from labkit.components.pipeline.settings import Layout, Secret, Settings, write_private
from labkit.components.pipeline.toolbox import Journal, Objects, Toolbox, start_toolbox
from labkit.errors import LabkitError, PortInUse
from labkit.log import log
from labkit.paths import labkit_home
from labkit.signals import terminating

REGISTRY_IMAGE, TOOLS_IMAGE, TOOLCHAIN_IMAGE = "pipeline-registry", "pipeline-tools", "pipeline-toolchain"


def home() -> Path:
    """Where the pipeline keeps labs and logs: ``<labkit home>/pipeline``."""
    return labkit_home() / "pipeline"


@dataclass
class EngineLab:
    """One engine-tier pipeline lab; see the module docstring. Secrets default to fresh random ones."""

    settings: Settings = field(default_factory=Settings)
    registry_password: Secret = field(default_factory=Secret.generate)
    passphrase: Secret = field(default_factory=Secret.generate)
    session: str = field(default_factory=docker.new_session_id)
    root: Path | None = None
    logs: Path = field(default_factory=lambda: home() / "logs")
    persistent: bool = False
    runner: Runner = field(default_factory=default_runner)
    registry_port: int = 0
    forge_port: int = 0
    app_port: int = 0
    first_commit: str = ""

    def __post_init__(self) -> None:
        self.root = Path(self.root or home() / "labs" / self.session)
        self.layout = Layout(self.root)
        self.objects = Objects(self.session, self.persistent, self.layout.host("created-images.txt"))
        self.tools = Toolbox(f"lk-{self.session}-ci")
        self.journal = Journal(self.logs / f"lab-{self.session}", self.runner)
        self.app_port = self.app_port or self.settings.app_port
        self.registry_port = self.registry_port or self.settings.registry_port
        self.forge_port = self.forge_port or self.settings.forge_port

    # -- names ---------------------------------------------------------------------------------------
    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    @property
    def repo_ref(self) -> str:
        return f"{self.registry}/{self.settings.repository}"

    @property
    def forge_url(self) -> str:
        return f"http://127.0.0.1:{self.forge_port}/{forges.REPO}"

    @property
    def app_name(self) -> str:
        return f"lk-{self.session}-app"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}/"

    @property
    def signer(self) -> str:
        return sign.fingerprint(self.layout.host("keys", "cosign.pub"))

    @property
    def client(self) -> registries.RegistryClient:
        return registries.RegistryClient(self.registry, str(self.layout.ca_cert), self.settings.user,
                                         self.registry_password)

    @property
    def forge(self) -> forges.Forge:
        return forges.Forge(self.forge_url, self.tools, self.journal, self.layout)

    def image_labels(self) -> dict[str, str]:
        """What the pipeline's images carry (few: the legacy builder makes one step per ``--label``)."""
        return {docker.MANAGED: "true", docker.ROLE: "pipeline-app", docker.SESSION: self.session}

    def push_cmd(self, tag: str) -> Cmd:
        return Cmd(("docker", "--config", str(self.layout.docker_config), "push", "--quiet", tag))

    def login_cmd(self) -> Cmd:
        return Cmd(("docker", "--config", str(self.layout.docker_config), "login", self.registry, "--username",
                    self.settings.user, "--password-stdin"))

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> EngineLab:
        self._signals = terminating()
        self._signals.__enter__()
        try:
            return self.up()
        except BaseException:
            self._signals.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self.down()
        finally:
            self._signals.__exit__(None, None, None)

    def check_ports(self) -> None:
        from labkit.targets.engine import port_free

        for what, port in (("registry", self.settings.registry_port), ("forge", self.settings.forge_port),
                           ("app", self.settings.app_port)):
            if port and not port_free(port):
                raise PortInUse(port, fix=f"the pipeline's {what} needs it: stop what listens there (`ss -ltnp "
                                          f"sport = :{port}`), `labkit pipeline down` if it is an older stack, "
                                          "or choose other ports (Settings(..._port=0) lets Docker pick)")

    def up(self) -> EngineLab:
        """Make everything (see the module docstring); a failure removes what was made, then raises."""
        self.check_ports()
        reg_image, tools_image = images.ensure(REGISTRY_IMAGE), images.ensure(TOOLS_IMAGE)
        images.ensure(TOOLCHAIN_IMAGE)  # the app's toolchain layer, cached: a first build does not fetch gcc
        try:
            self._up(reg_image, tools_image)
        except BaseException:
            log("! the pipeline lab did not come up: removing what was made")
            self.down()
            raise
        return self

    def _up(self, reg_image: str, tools_image: str) -> None:
        log(f"pipeline lab {self.session}: {self.root}")
        self.layout.make()
        start_toolbox(self.objects, self.layout, tools_image)
        ca.make_ca(self.tools, self.layout, self.journal)
        ca.write_htpasswd(self.tools, self.layout, self.journal, user=self.settings.user,
                          password=self.registry_password, cost=self.settings.bcrypt_cost)
        box = registries.start(self.objects, self.layout, reg_image, port=self.settings.registry_port)
        self.registry_port = registries.published_port(docker.attrs(box), "5000/tcp")
        took = registries.wait_ready(self.client)
        log(f"✓ registry https://{self.registry} (TLS from the lab CA, htpasswd) ready in {took:.2f} s")
        self.journal.run(self.login_cmd(), stage="lab", timeout=60, secret=self.registry_password)
        sign.generate_key_pair(self.tools, self.layout, self.journal, self.passphrase)
        log(f"✓ cosign key pair, signer {self.signer}")
        box = forges.start(self.objects, self.layout, tools_image, port=self.settings.forge_port)
        self.forge_port = registries.published_port(docker.attrs(box), "8080/tcp")
        forges.wait_ready(self.forge_url)
        self.first_commit = self.forge.seed()
        log(f"✓ forge {self.forge_url}: first commit {self.first_commit[:12]}")
        if self.persistent:
            self.save()

    def down(self) -> list[str]:
        """Remove every container and image of this lab, its build stages and its directory (logs stay)."""
        try:
            gone = self.objects.remove_all(self.runner)
        except LabkitError as exc:  # the daemon went away, or raced: say so, still remove the directory
            log(f"! could not remove everything of lab {self.session}: {exc.message} (run `labkit clean`)")
            gone = []
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        log(f"✓ pipeline lab {self.session} removed ({len(gone)} object(s)); logs kept in {self.logs}")
        return gone

    # -- the terminal's stack: saved, found again ----------------------------------------------------
    def save(self) -> Path:
        """What ``labkit pipeline status|run|down`` need; the passphrase in a 0600 file beside the key."""
        write_private(self.layout.host("keys", "passphrase"), self.passphrase.reveal())
        state = {"session": self.session, "registry_port": self.registry_port, "forge_port": self.forge_port,
                 "app_port": self.app_port, "user": self.settings.user, "repository": self.settings.repository,
                 "first_commit": self.first_commit, "logs": str(self.logs)}
        return write_private(self.layout.host("state.json"), json.dumps(state, indent=2))

    @classmethod
    def attach(cls, root: Path, *, runner: Runner | None = None) -> EngineLab:
        """The stack ``labkit pipeline up`` left at ``root``."""
        path = root / "state.json"
        if not path.exists():
            raise LabkitError(f"no pipeline stack at {root}", fix="start one: labkit pipeline up")
        s = json.loads(path.read_text())
        auths = json.loads((root / "docker" / "config.json").read_text()).get("auths", {})
        import base64

        raw = auths.get(f"127.0.0.1:{s['registry_port']}", {}).get("auth", "")
        password = base64.b64decode(raw).decode().partition(":")[2]
        settings = Settings(registry_port=s["registry_port"], forge_port=s["forge_port"], app_port=s["app_port"],
                            user=s["user"], repository=s["repository"])
        return cls(settings, Secret(password), Secret((root / "keys" / "passphrase").read_text()), s["session"],
                   root, Path(s["logs"]), True, runner or default_runner(), s["registry_port"], s["forge_port"],
                   s["app_port"], s["first_commit"])

    def registry_container(self) -> Any:
        return docker.container(f"lk-{self.session}-registry")

    def stop_registry(self) -> None:
        """Take the registry away (a crash, a maintenance window): what the pipeline must survive clearly."""
        box = self.registry_container()
        if box is not None:
            docker.remove_container(box)

    def start_registry(self) -> float:
        """(Re)start the registry on the same port with the same data; seconds until it answers."""
        if self.registry_container() is None:
            registries.start(self.objects, self.layout, images.ensure(REGISTRY_IMAGE), port=self.registry_port)
        return registries.wait_ready(self.client)

    def login(self, password: Secret) -> None:
        """``docker login`` into the lab's own Docker config; a wrong password is a clear error, not a traceback."""
        from labkit.components.pipeline.runner import diagnose
        from labkit.errors import CommandError

        try:
            self.journal.run(self.login_cmd(), stage="login", timeout=60, secret=password)
        except CommandError as exc:
            raise diagnose(exc) from None

    # -- using it ------------------------------------------------------------------------------------
    def run(self, commit: str | None = None, **kwargs: Any) -> Any:
        """One pipeline run for ``commit`` (default: main's head); see :func:`runner.run`."""
        from labkit.components.pipeline import runner

        return runner.run(self, commit or self.forge.head() or self.first_commit, self.passphrase, **kwargs)

    def gate(self, ref: str, *, expected_digest: str | None = None, expected_commit: str | None = None) -> str:
        """The deploy gate alone: the verified digest, or :class:`~labkit.components.pipeline.deploy.Refused`."""
        from labkit.components.pipeline import deploy

        return deploy.gate(self, ref, self.journal, expected_digest=expected_digest, expected_commit=expected_commit,
                           stage="gate")

    def deploy(self, ref: str, *, expected_commit: str, deployed_by: str = "labkit deploy") -> str:
        """Gate ``ref`` for ``expected_commit``, then run it by digest; the digest now running."""
        from labkit.components.pipeline import deploy

        digest = self.gate(ref, expected_commit=expected_commit)
        releases = self.layout.host("releases")
        known = [deploy.Release.load(p) for p in releases.glob("*.json")] if releases.exists() else []
        release = next((r for r in known if r.digest == digest), None)
        if release is None:
            raise LabkitError(f"{digest[:19]}… is signed but no release record of this lab names it")
        deploy.run_by_digest(self, release, self.journal, deployed_by=deployed_by, stage="gate")
        deploy.wait_serving(self.app_url, release.commit, timeout=self.settings.ready_timeout)
        return digest

    def audit(self) -> Any:
        """The audit table (pandas), built from what runs now; see :mod:`.audit`."""
        from labkit.components.pipeline import audit

        return audit.table(self)

    def running_digest(self) -> str:
        """The registry digest of the image the app container runs now (from Docker, not from records)."""
        box = docker.container(self.app_name)
        if box is None:
            return ""
        image = docker.image_attrs(str(docker.attrs(box)["Image"]))
        return next((d.partition("@")[2] for d in image.get("RepoDigests") or [] if d.startswith(self.registry)), "")

    def verify(self, ref: str) -> Any:
        """``cosign verify`` of ``ref`` with the lab's public key, now (a Verification: ok, commit, error)."""
        return sign.verify(self.tools, self.journal, ref, stage="verify")

    def leftovers(self) -> list[str]:
        """Names of this lab's containers still present (after ``down``: none)."""
        return [str(box.name) for box in self.objects.containers()]

    def serving(self) -> str:
        from labkit.components.pipeline.deploy import serving

        return serving(self.app_url)

    def status(self) -> list[dict[str, str]]:
        """Each container of this lab: name, part, state, published address."""
        rows = []
        for box in self.objects.containers():
            a = docker.attrs(box)
            ports = [f"{b['HostIp']}:{b['HostPort']}" for v in (a["NetworkSettings"]["Ports"] or {}).values()
                     for b in (v or [])]
            rows.append({"container": box.name, "part": (a["Config"]["Labels"] or {}).get("io.labkit.pipeline.part",
                         "?"), "state": a["State"]["Status"], "address": ", ".join(ports) or "host network"})
        return rows
