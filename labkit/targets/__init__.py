"""Where labkit runs things: the Docker engine, kind clusters, any cluster, Swarm, and replay.

========== ===================================================================================
engine     the local Docker daemon: host facts for every row, host state (veth links, loops)
kind       kind clusters labkit makes: config, plans (create, registry, images), preflight, lifecycle
cluster    any kubeconfig context: :func:`labkit.targets.cluster.connect`
swarm      Docker Swarm on the local daemon, or on Docker-in-Docker nodes
replay     recorded runs, for machines without Docker (Binder)
========== ===================================================================================
"""
