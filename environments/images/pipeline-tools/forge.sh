#!/bin/sh
# Start the lab's forge: make the bare repository (branch main; push over HTTP allowed, which git-http-backend
# otherwise grants only to an authenticated user), then serve it with lighttpd.
set -eu
repo=/srv/git/app.git
conf=/etc/lighttpd/git.conf
as=""
if [ "$(id -u)" = 0 ]; then
  chown www-data:www-data /srv/git
  as="runuser -u www-data --"
  printf 'include "/etc/lighttpd/git.conf"\nserver.username = "www-data"\nserver.groupname = "www-data"\n' > /etc/lighttpd/git-root.conf
  conf=/etc/lighttpd/git-root.conf
fi
if [ ! -d "$repo" ]; then
  $as git init --quiet --bare --initial-branch=main "$repo"
  $as git -C "$repo" config http.receivepack true
fi
exec lighttpd -D -f "$conf"
