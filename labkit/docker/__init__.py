"""The only door to the Docker engine: nothing else in labkit imports the Docker SDK.

No raw client leaves this package. Failures arrive as labkit errors: the daemon gone
(:class:`~labkit.errors.DockerUnavailable`), an object missing (:class:`NoSuchObject`), a
request refused (:class:`DockerError`, with the daemon's own explanation).
"""

from __future__ import annotations

from labkit.docker.client import (
    DOCKER_FIX,
    DockerError,
    NoSuchObject,
    available,
    info,
    probe,
    reset,
    server_version,
    version,
)
from labkit.docker.ops import (
    ExecResult,
    attrs,
    container,
    containers,
    create,
    create_raw,
    diff,
    exec_detached,
    exec_in,
    image_attrs,
    image_exists,
    ip_on,
    is_running,
    logs,
    network_exists,
    networks_named,
    put_archive,
    remove_container,
    remove_network,
    require_image,
    save_image,
    saved_image,
    start,
    swarm_leave,
    swarm_node_attrs,
    wait,
    build_image,
)
from labkit.docker import commands
from labkit.docker.scope import (
    CHAPTER,
    CHAPTER_ENV,
    MANAGED,
    OWNER,
    ROLE,
    SESSION,
    Managed,
    Scope,
    current_chapter,
    labels,
    managed,
    new_session_id,
    owner,
    owner_gone,
    reap,
    remove,
)

__all__ = [
    "DOCKER_FIX", "DockerError", "NoSuchObject", "available", "info", "probe", "reset", "server_version", "version",
    "ExecResult", "attrs", "build_image", "container", "containers", "create", "create_raw", "diff", "exec_detached",
    "exec_in", "image_attrs", "image_exists", "ip_on", "is_running", "logs", "network_exists", "networks_named",
    "put_archive", "remove_container", "remove_network", "require_image", "save_image", "saved_image", "start",
    "swarm_leave", "swarm_node_attrs", "wait",
    "commands", "CHAPTER", "CHAPTER_ENV", "current_chapter",
    "MANAGED", "OWNER", "ROLE", "SESSION", "Managed", "Scope", "labels", "managed", "new_session_id", "owner",
    "owner_gone", "reap", "remove",
]
