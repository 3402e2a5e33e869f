#!/usr/bin/env bash
# Stops the local control plane that hack/cluster-up.sh started and removes its state
# (.cluster/). Safe to run twice, or with nothing running.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.cluster"
pids="$state/pids"

log() { printf 'cluster-down: %s\n' "$*"; }

# The same lock as cluster-up.sh: never tear down a cluster that is half-way up.
lock="${TMPDIR:-/tmp}/autoclint-cluster-$(printf '%s' "$root" | md5sum | cut -c1-12).lock"
exec 9>"$lock"
flock -w 600 9 || { log "another cluster-up/down holds $lock" >&2; exit 1; }

# A pid is ours only while it still runs the binary its pid file is named after: a recycled
# pid belonging to someone else is never signalled.
our_pid() { # component -> prints the pid, or fails
  local pid_file="$pids/$1.pid" pid exe
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  [[ "$(basename "${exe% (deleted)}")" == "$1" ]] || return 1
  echo "$pid"
}

# The real node first (its pods go through the kubelet while the API server still answers);
# it leaves a real node that another cluster owns alone.
if [[ -d "$state" ]]; then "$root/hack/real-node.sh" down "$state" || true; fi

stopped=0
# Clients before servers, etcd last, so nothing logs a storm of connection errors on the way.
for component in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pid="$(our_pid "$component")" || continue
  kill -TERM "$pid" 2>/dev/null || continue
  # Give it 10 s to shut down cleanly (etcd flushes), then insist.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$component ($pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  stopped=$((stopped + 1))
done

if [[ -d "$state" ]]; then
  rm -rf "$state"
  log "stopped $stopped component(s) and removed .cluster/"
else
  log "nothing to do (no .cluster/)"
fi
