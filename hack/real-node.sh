#!/usr/bin/env bash
# The local cluster's one real node: containerd + runc + CNI bridge (Debian's), a kubelet and
# kube-proxy built from the same Kubernetes module as the control plane, a FAKE GPU device plugin
# (hack/control-plane/fake-gpu-plugin: it advertises nvidia.com/gpu, there is no GPU) and CoreDNS
# as a Deployment. Pods really run here, from images built by hack/images.sh.
#
#   hack/real-node.sh up STATE      # called by hack/cluster-up.sh when REAL_NODE=1
#   hack/real-node.sh down STATE    # called by hack/cluster-down.sh; safe with nothing running
#   hack/real-node.sh pv NAME SIZE  # a local PersistentVolume on the node (storage class autoclint-local)
#
# STATE is the cluster's state folder (.cluster/ of a working tree): its pki/ (the CA signs the
# node's certificates), env (API_PORT) and logs/, pids/.
#
# Host paths are fixed (/var/lib/kubelet/device-plugins, /run/containerd, /var/log/pods,
# /run/netns, the node address on lo), so there is one real node per machine: whichever
# cluster brings it up owns it (/run/autoclint-real-node/owner), others are refused. Teardown
# goes pods, daemons, containers, containerd, leftover shims, mounts, cgroups, iptables chains,
# the bridge, the lo address: in any other order the next bring-up trips on leftovers.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"

NODE_NAME=autoclint-real-0
# The node's address: a /32 on lo (no dummy interface module on these VMs; a loopback address
# cannot be a node IP, and pods cannot reach the host's 127.0.0.1).
NODE_IP=10.254.0.1
POD_CIDR=10.88.0.0/16
POD_GATEWAY=10.88.0.1
BRIDGE=autoclint0
CLUSTER_DNS=10.96.0.10
GPUS="${REAL_NODE_GPUS:-2}"
TAINT_KEY=autoclint.io/real-node

machine=/run/autoclint-real-node
containerd_config=/etc/containerd/autoclint.toml
cni_config=/etc/cni/net.d/10-autoclint.conflist
sock=/run/containerd/containerd.sock
timeout="${CLUSTER_UP_TIMEOUT:-120}"

log() { printf 'real-node: %s\n' "$*"; }
die() { printf 'real-node: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "the real node needs root (containerd, kubelet, iptables)"

wait_for() { # what command... : retries until the command succeeds or the timeout passes
  local what="$1" deadline=$((SECONDS + timeout))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what (logs in $state/logs/)"
    sleep 0.5
  done
}

# A pid is ours only while it still runs the binary its pid file is named after.
our_pid() { # name -> pid
  local pid_file="$state/pids/$1.pid" pid exe
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  exe="$(basename "${exe% (deleted)}")"
  [[ "$exe" == "$1" || "$exe" == "$1"-* ]] || return 1
  echo "$pid"
}

stop_pid() { # name pid grace-seconds
  kill -TERM "$2" 2>/dev/null || return 0
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    kill -0 "$2" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$1 ($2) ignored SIGTERM; killing it"
  kill -KILL "$2" 2>/dev/null || true
}

stop() { # name grace-seconds
  local pid
  pid="$(our_pid "$1")" || return 0
  stop_pid "$1" "$pid" "$2"
  rm -f "$state/pids/$1.pid"
}

start() { # name binary args...
  local name="$1"
  shift
  # setsid: outlives the caller; 9>&- 8>&-: the cluster's and the node's locks stay with us.
  setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null 9>&- 8>&- &
  echo $! >"$state/pids/$name.pid"
}

kube() { kubectl --kubeconfig "$state/kubeconfig" "$@"; }

# --- teardown ------------------------------------------------------------------------------

# Everything the node left on the machine, in order. Works from any half-started state and with
# the API server gone.
teardown() {
  if [[ -f "$state/kubeconfig" ]] && kube get node "$NODE_NAME" >/dev/null 2>&1; then
    # Pods first, through the kubelet, so that it stops their containers and CNI releases their
    # addresses. Cordoned, nothing is scheduled back.
    kube cordon "$NODE_NAME" >/dev/null 2>&1 || true
    kube delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" \
      --grace-period=2 --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 40))
    while ((SECONDS < deadline)) && [[ -n "$(kube get pods -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null)" ]]; do
      sleep 1
    done
    kube delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  stop kube-proxy 5
  stop fake-gpu-plugin 5
  stop kubelet 10
  if [[ -S "$sock" ]]; then
    local id
    for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
      ctr -a "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop containerd 10
  # Shims outlive containerd by design, and container processes outlive a killed shim: both are
  # the node's (only the node runs containerd's k8s.io namespace on this machine).
  local pid
  for pid in $(pgrep -x containerd-shim-runc-v2 2>/dev/null || true); do
    grep -qz -- 'k8s.io' "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  local procs
  for procs in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods; do
    [[ -d "$procs" ]] || continue
    find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
  done
  sleep 0.5
  # Mounts under the node's paths, deepest first.
  local mnt
  # (The kubelet also bind-mounts /var/lib/kubelet onto itself, to share mounts with pods.)
  awk '$5 ~ /^(\/run\/containerd|\/var\/lib\/kubelet|\/run\/netns|\/var\/lib\/containerd\/io\.containerd\.grpc)(\/|$)/ {print $5}' /proc/self/mountinfo |
    sort -r | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
  # Cgroups the kubelet made (cgroupfs driver, cgroup v1): every controller's kubepods tree.
  local dir
  for dir in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$dir" ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # iptables: kube-proxy's own cleanup, then any KUBE-/CNI- chain left by the kubelet or CNI.
  local bin
  bin="$("$root/hack/control-plane/build.sh" --print)"
  if [[ -x "$bin/kube-proxy" ]]; then "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  local table rule chain
  for table in filter nat mangle; do
    iptables -t "$table" -S 2>/dev/null | awk '/^-A .*(KUBE-|CNI-)/ {sub(/^-A/, "-D"); print}' | while read -r rule; do
      eval "iptables -t $table $rule" 2>/dev/null || true
    done
    iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}' | while read -r chain; do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}' | while read -r chain; do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  rm -rf /run/netns/cni-* /var/lib/cni/networks/autoclint /var/lib/cni/results/autoclint-*
  ip address del "$NODE_IP/32" dev lo 2>/dev/null || true
  # The kubelet's state (pods, device-plugin sockets, certificates); containerd's image store in
  # /var/lib/containerd stays: the imported images are the slow part of a bring-up.
  # --one-file-system: never through a mount that survived the unmounting above.
  rm -rf --one-file-system /var/lib/kubelet /var/lib/autoclint-pv /var/log/pods /var/log/containers "$containerd_config" "$cni_config" ||
    log "could not remove all of the node's files (see above); the next up retries"
  if [[ -f "$machine/sysctl" ]]; then
    # The machine's settings from before the node came up.
    while read -r key value; do sysctl -qw "$key=$value" 2>/dev/null || true; done <"$machine/sysctl"
  fi
  rm -rf "$machine"
}

# --- the machine-wide lock and owner -------------------------------------------------------

mkdir -p "$(dirname "$machine")"
exec 8>/run/autoclint-real-node.lock
flock -w 600 8 || die "another real-node up/down holds /run/autoclint-real-node.lock"

owner_alive() { # -> 0 when the recorded owner's kubelet still runs
  local owner_state pid exe
  owner_state="$(cat "$machine/owner" 2>/dev/null)" || return 1
  pid="$(cat "$owner_state/pids/kubelet.pid" 2>/dev/null)" || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  [[ "$(basename "${exe% (deleted)}")" == kubelet ]]
}

case "$cmd" in
  # realpath -m: down also works after the state folder is gone (the node outlived its cluster).
  up | down) state="$(realpath -m "${2:?usage: hack/real-node.sh $cmd STATE}")" ;;
  pv) ;;
  *) die "usage: hack/real-node.sh up|down STATE, or hack/real-node.sh pv NAME SIZE" ;;
esac

if [[ "$cmd" == down ]]; then
  owner="$(cat "$machine/owner" 2>/dev/null || true)"
  if [[ -n "$owner" && "$owner" != "$state" ]]; then
    # Another cluster's, running or not: its own down, or the next up, cleans it.
    exit 0
  fi
  if [[ -n "$owner" || -f "$state/pids/kubelet.pid" || -f "$state/pids/containerd.pid" ]]; then
    log "tearing down the real node $NODE_NAME"
    teardown
  fi
  exit 0
fi

if [[ "$cmd" == pv ]]; then
  name="${2:?usage: hack/real-node.sh pv NAME SIZE}"
  size="${3:?usage: hack/real-node.sh pv NAME SIZE}"
  state="$(cat "$machine/owner" 2>/dev/null)" || die "no real node is up"
  dir="/var/lib/autoclint-pv/$name"
  mkdir -p "$dir"
  # Any uid may write (NATS runs as 1000, the trainer as 10001): a test volume, not a shared one.
  chmod 1777 "$dir"
  kube apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $name
  labels: { autoclint.io/local-pv: "true" }
spec:
  capacity: { storage: $size }
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: autoclint-local
  local: { path: $dir }
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{ key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME] }]
EOF
  echo "$dir"
  exit 0
fi

# --- up ------------------------------------------------------------------------------------

if [[ -f "$machine/owner" ]]; then
  if [[ "$(cat "$machine/owner")" != "$state" ]] && owner_alive; then
    die "the machine's one real node belongs to the cluster in $(cat "$machine/owner"); bring that one down (its hack/cluster-down.sh) or use REAL_NODE=0"
  fi
  log "cleaning up after an earlier real node"
  teardown
elif [[ -S "$sock" || -d /var/lib/kubelet ]]; then
  log "cleaning up leftovers of an earlier real node"
  teardown
fi

for tool in containerd runc ctr iptables conntrack; do
  command -v "$tool" >/dev/null || die "$tool is not installed: run make setup"
done
[[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are not installed: run make setup"
bin="$("$root/hack/control-plane/build.sh" --print)"
for b in kubelet kube-proxy fake-gpu-plugin coredns; do
  [[ -x "$bin/$b" ]] || die "$bin/$b is missing: run hack/control-plane/build.sh"
done
# shellcheck source=/dev/null
source "$state/env"
pki="$state/pki"
node_dir="$state/real-node"
mkdir -p "$machine" "$node_dir" "$state/logs" "$state/pids"
echo "$state" >"$machine/owner"
started_at=$SECONDS

# Kernel settings the node needs, remembered so that down puts the machine's back.
: >"$machine/sysctl"
for kv in net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1; do
  key="${kv%%=*}"
  if value="$(sysctl -n "$key" 2>/dev/null)"; then
    echo "$key $value" >>"$machine/sysctl"
    sysctl -qw "$kv"
  fi
done

# cluster-up adds it before the API server starts (it advertises this address).
ip -4 address show dev lo | grep -q " $NODE_IP/" || ip address add "$NODE_IP/32" dev lo

log "starting containerd"
images="$("$root/hack/images.sh" --print-tags)"
pause_image="$(sed -n 's/^pause=//p' <<<"$images")"
coredns_image="$(sed -n 's/^coredns=//p' <<<"$images")"
mkdir -p "$(dirname "$containerd_config")" "$(dirname "$cni_config")"
# restrict_oom_score_adj: the VM lacks CAP_SYS_RESOURCE; without it every sandbox fails with
# "can't get final child's PID from pipe: EOF". cgroupfs (SystemdCgroup = false): cgroup v1, no
# systemd. The sandbox image is built here (no registry).
cat >"$containerd_config" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$(dirname "$cni_config")"
EOF
start containerd containerd --config "$containerd_config"
wait_for containerd ctr -a "$sock" version

"$root/hack/images.sh" pause coredns >/dev/null

# The pod network: one bridge, host-local addresses, masquerade to the outside, hairpin so a
# pod reaches itself through a Service.
cat >"$cni_config" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "autoclint",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

kubeconfig() { # out user
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: autoclint-local
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: autoclint-local
  context: { cluster: autoclint-local, user: $2 }
current-context: autoclint-local
EOF
  chmod 600 "$1"
}
kubeconfig "$node_dir/kubelet.kubeconfig" kubelet
kubeconfig "$node_dir/kube-proxy.kubeconfig" kube-proxy

log "starting the kubelet ($NODE_NAME at $NODE_IP)"
# failCgroupV1/cgroupfs: these VMs run cgroup v1 without systemd. makeIPTablesUtilChains: false,
# or its KUBE-FIREWALL chain drops traffic to 127/8. Image GC off: nothing can be pulled back.
cat >"$node_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2% }
serializeImagePulls: false
maxPods: 50
EOF
start kubelet "$bin/kubelet" \
  --config="$node_dir/kubelet.yaml" \
  --kubeconfig="$node_dir/kubelet.kubeconfig" \
  --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" \
  --node-labels="$TAINT_KEY=true,type=real" \
  --register-with-taints="$TAINT_KEY=true:NoSchedule" \
  --v=1
wait_for "the kubelet to register $NODE_NAME" kube get node "$NODE_NAME"
wait_for "$NODE_NAME to be Ready" kube wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s

log "starting the fake GPU device plugin ($GPUS x nvidia.com/gpu) and kube-proxy"
start fake-gpu-plugin "$bin/fake-gpu-plugin" -count "$GPUS"
wait_for "nvidia.com/gpu on $NODE_NAME" bash -c \
  "[[ \"\$(kubectl --kubeconfig '$state/kubeconfig' get node $NODE_NAME -o jsonpath='{.status.allocatable.nvidia\\.com/gpu}')\" == '$GPUS' ]]"
# --masquerade-all: Service traffic leaves with the bridge's address, so replies from a pod on the
# same bridge come back through the host's conntrack.
start kube-proxy "$bin/kube-proxy" \
  --kubeconfig="$node_dir/kube-proxy.kubeconfig" \
  --hostname-override="$NODE_NAME" \
  --proxy-mode=iptables \
  --cluster-cidr="$POD_CIDR" \
  --masquerade-all \
  --conntrack-max-per-core=0 \
  --metrics-bind-address=127.0.0.1:10249 \
  --healthz-bind-address=127.0.0.1:10256 \
  --v=1
wait_for kube-proxy curl -fsS --max-time 2 http://127.0.0.1:10256/healthz

log "deploying CoreDNS ($CLUSTER_DNS) and the autoclint-local storage class"
kube apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: { name: coredns, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "autoclint:coredns" }
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "autoclint:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "autoclint:coredns" }
subjects: [{ kind: ServiceAccount, name: coredns, namespace: kube-system }]
---
# The API server's client identity towards kubelets (kubectl logs, exec).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "autoclint:apiserver-kubelet-client" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kubelet-api-admin" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: coredns, namespace: kube-system }
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        forward . /etc/resolv.conf
        cache 30
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: coredns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  replicas: 1
  selector: { matchLabels: { k8s-app: kube-dns } }
  template:
    metadata: { labels: { k8s-app: kube-dns } }
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      nodeSelector: { $TAINT_KEY: "true" }
      tolerations: [{ key: $TAINT_KEY, operator: Exists, effect: NoSchedule }]
      # Port 53 as a non-root user: the pod's own (namespaced) unprivileged-port floor.
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: { type: RuntimeDefault }
        sysctls: [{ name: net.ipv4.ip_unprivileged_port_start, value: "0" }]
      containers:
        - name: coredns
          image: $coredns_image
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile, -dns.port, "53"]
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
          ports:
            - { name: dns, containerPort: 53, protocol: UDP }
            - { name: dns-tcp, containerPort: 53, protocol: TCP }
          readinessProbe: { httpGet: { path: /ready, port: 8181 }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /health, port: 8080 }, periodSeconds: 10 }
          resources: { requests: { cpu: 50m, memory: 32Mi }, limits: { memory: 128Mi } }
          volumeMounts: [{ name: config, mountPath: /etc/coredns, readOnly: true }]
      volumes: [{ name: config, configMap: { name: coredns } }]
---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  clusterIP: $CLUSTER_DNS
  selector: { k8s-app: kube-dns }
  ports:
    - { name: dns, port: 53, protocol: UDP }
    - { name: dns-tcp, port: 53, protocol: TCP }
---
# Local volumes on the real node, made by \`hack/real-node.sh pv NAME SIZE\` (no provisioner).
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: { name: autoclint-local }
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
EOF
wait_for "CoreDNS to be Available" kube -n kube-system wait --for=condition=Available deployment/coredns --timeout=5s

log "$NODE_NAME is up in $((SECONDS - started_at)) s (taint $TAINT_KEY=true:NoSchedule, $GPUS fake nvidia.com/gpu)"
