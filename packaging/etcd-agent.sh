#!/bin/sh
# /usr/bin/etcd-agent: runs the agent with the Node.js runtime bundled in
# /usr/lib/etcd-agent, whatever node (if any) the host has. NODE_OPTIONS and
# NODE_PATH from the caller's environment are dropped: they are meant for the
# host's node and could load code into the agent, which runs as root.
unset NODE_OPTIONS NODE_PATH
exec /usr/lib/etcd-agent/node/bin/node /usr/lib/etcd-agent/bin/etcd-agent.js "$@"
