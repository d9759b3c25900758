#!/bin/sh
# Serve the bundle's files/ over HTTP on :8080 when a bundle is mounted at /bundle (busybox httpd detaches),
# then become the registry on :5000.
set -eu
if [ -d /bundle/files ]; then
  busybox httpd -p 8080 -h /bundle/files
  echo "labkit-registry: serving /bundle/files on :8080" >&2
fi
exec docker-registry serve /etc/labkit-registry/config.yml
