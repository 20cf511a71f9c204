#!/usr/bin/env bash
# lab.sh - N corral nodes on one machine, each in its own network namespace with its own
# address, its own /root and its own sshd; cut power, partition and restore them.
#
#   network namespace <LAB>-sw : bridge br0 ---- veth <LAB>-nI-b  <=>  eth0 in <LAB>-nI  ($SUBNET.I/24)
#                                          \---- veth <LAB>-hb    <=>  <LAB>-h in the root ns ($SUBNET.254)
#
# The host leg lets this machine (browser, tests) reach https://$SUBNET.I:8006. A node is a
# network + mount + UTS namespace: hostname nI, a private /root, its processes findable with
# "ip netns pids". corral runs there as `corral serve` with its data under $STATE/nI/data.
#
# Usage:
#   lab.sh up [N]            create N nodes (default 3) and start sshd + corral on each
#   lab.sh cluster           create cluster "lab" on n1 and join every other node to it (CLI)
#   lab.sh status            nodes, addresses, processes, fault rules
#   lab.sh exec NODE CMD...  run CMD inside NODE (all its namespaces)
#   lab.sh corral NODE ARGS  run `corral ARGS --data-dir <node's data dir>` inside NODE
#   lab.sh poweroff NODE     power loss: link down first (no FIN/RST escapes), then SIGKILL all
#   lab.sh poweron NODE      link up, start sshd and corral again on the same data
#   lab.sh stop NODE         stop corral gracefully (SIGTERM); "start NODE" starts it
#   lab.sh sshd NODE stop|start|impostor   stop NODE's sshd (and its sessions), start it, or
#                            start one with a different host key on its address
#   lab.sh partition A,B C,D ...   split the nodes into groups that cannot reach each other
#                            (iptables inside the nodes; the host leg still reaches everyone)
#   lab.sh heal              remove every partition rule
#   lab.sh nfs up|stop|start|poweroff|poweron|status
#                            an NFS server (rpcbind + NFS-Ganesha, NFSv3+v4) on the storage node
#                            "st" at $SUBNET.200 exporting $STATE/nfs-export as /export; stop/start
#                            kill and restart the server, poweroff/poweron also cut its link
#   lab.sh down              kill everything and delete the namespaces (data stays)
#   lab.sh purge             down, then delete $STATE
#
# Environment: LAB [lab] names the namespaces (several labs can run side by side);
#   SUBNET [10.77.0]; STATE [/run/corral-lab/$LAB]; CORRAL_BIN [built corral, release first];
#   CORRAL_LAB_PASSWORD [lab-root-pw] (root@pam on every node); PORT [8006].
# Needs root, iproute2, iptables, nsenter (util-linux), openssh-server, and for "nfs"
# nfs-ganesha, nfs-ganesha-vfs and rpcbind (scripts/bootstrap.sh --test installs them).
set -u

LAB=${LAB:-lab}
SUBNET=${SUBNET:-10.77.0}
STATE=${STATE:-/run/corral-lab/$LAB}
PORT=${PORT:-8006}
PASSWORD=${CORRAL_LAB_PASSWORD:-lab-root-pw}
SW=$LAB-sw
HOSTIF=$LAB-h
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/corral/target}

die() { echo "lab.sh: $*" >&2; exit 1; }
say() { echo "lab.sh: $*"; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
nodes() { cat "$STATE/nodes" 2>/dev/null; }
ns_of() { echo "$LAB-$1"; }
index_of() { local n=$1; [[ $n =~ ^n([0-9]+)$ ]] || die "unknown node $n"; grep -qx "$n" "$STATE/nodes" 2>/dev/null || die "unknown node $n (nodes: $(nodes | tr '\n' ' '))"; echo "${BASH_REMATCH[1]}"; }
addr_of() { echo "$SUBNET.$(index_of "$1")"; }

corral_bin() {
  if [ -n "${CORRAL_BIN:-}" ]; then echo "$CORRAL_BIN"; return; fi
  local p
  for p in "$TARGET/release/corral" "$TARGET/debug/corral"; do [ -x "$p" ] && { echo "$p"; return; }; done
  die "no corral binary: build it (scripts/build.sh) or set CORRAL_BIN"
}

# Every process of a node runs inside its net + mount + UTS namespaces.
in_node() {
  local n=$1; shift
  nsenter --net="/run/netns/$(ns_of "$n")" --mount="$STATE/ns/$n.mnt" --uts="$STATE/ns/$n.uts" -- "$@"
}

make_node_namespaces() {
  local n=$1
  grep -q " $STATE/ns/$n.mnt " /proc/self/mountinfo && return 0
  mkdir -p "$STATE/ns" "$STATE/$n/root"
  # a namespace can only be kept alive by a bind mount under a private mount point
  if ! grep -q " $STATE/ns " /proc/self/mountinfo; then mount --bind "$STATE/ns" "$STATE/ns"; mount --make-private "$STATE/ns"; fi
  touch "$STATE/ns/$n.mnt" "$STATE/ns/$n.uts"
  nsenter --net="/run/netns/$(ns_of "$n")" unshare --mount="$STATE/ns/$n.mnt" --uts="$STATE/ns/$n.uts" --propagation slave \
    sh -ec "hostname $n; mount --bind $STATE/$n/root /root; mount --bind $STATE/hosts /etc/hosts"
}

up() {
  local count=${1:-3} i n
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
  [[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 16 ] || die "node count must be 1..16"
  for t in ip iptables nsenter unshare; do command -v $t >/dev/null || die "$t is missing (scripts/bootstrap.sh --test installs it)"; done
  mkdir -p "$STATE" && chmod 0755 "$STATE"
  seq 1 "$count" | sed 's/^/n/' > "$STATE/nodes"
  { echo "127.0.0.1 localhost"; for i in $(seq 1 "$count"); do echo "$SUBNET.$i n$i"; done; } > "$STATE/hosts"
  ns_exists "$SW" || ip netns add "$SW"
  ip -n "$SW" link set lo up
  ip -n "$SW" link show br0 >/dev/null 2>&1 || ip -n "$SW" link add br0 type bridge
  ip -n "$SW" link set br0 type bridge stp_state 0 forward_delay 0
  ip -n "$SW" link set br0 up
  for n in $(nodes); do
    i=$(index_of "$n")
    ns_exists "$(ns_of "$n")" || ip netns add "$(ns_of "$n")"
    ip -n "$(ns_of "$n")" link set lo up
    if ! ip -n "$(ns_of "$n")" link show eth0 >/dev/null 2>&1; then
      ip -n "$SW" link del "$LAB-$n-b" 2>/dev/null
      ip -n "$SW" link add "$LAB-$n-b" type veth peer name eth0 netns "$(ns_of "$n")"
    fi
    ip -n "$SW" link set "$LAB-$n-b" master br0 up
    ip -n "$(ns_of "$n")" addr replace "$SUBNET.$i/24" dev eth0
    ip -n "$(ns_of "$n")" link set eth0 up
    make_node_namespaces "$n"
  done
  if ! ip link show "$HOSTIF" >/dev/null 2>&1; then
    ip -n "$SW" link del "$LAB-hb" 2>/dev/null
    ip -n "$SW" link add "$LAB-hb" type veth peer name "$HOSTIF" netns 1
  fi
  ip -n "$SW" link set "$LAB-hb" master br0 up
  ip addr replace "$SUBNET.254/24" dev "$HOSTIF"
  ip link set "$HOSTIF" up
  stage_binary
  for n in $(nodes); do start_sshd "$n"; start_corral "$n"; done
  for n in $(nodes); do wait_corral "$n"; done
  say "$count node(s) up: $(for n in $(nodes); do printf 'https://%s:%s ' "$(addr_of "$n")" "$PORT"; done)(root@pam / $PASSWORD)"
}

sshd_stop() {  # every sshd process in NODE's namespace, sessions included
  local n=$1 p
  for p in $(node_pids "$n"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = sshd ] && kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    local left=0
    for p in $(node_pids "$n"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = sshd ] && left=1; done
    [ $left = 0 ] && break; sleep 0.1
  done
  rm -f "$STATE/$n/ssh/sshd.pid"
}

start_sshd() {
  local n=$1 d
  command -v /usr/sbin/sshd >/dev/null || { say "no sshd installed; $n runs without one"; return 0; }
  d=$STATE/$n/ssh; mkdir -p "$d" /run/sshd; chmod 0700 "$d"
  [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "host-$n" -f "$d/ssh_host_ed25519_key"
  local hostkey=$d/ssh_host_ed25519_key
  if [ "${2:-}" = impostor ]; then
    [ -f "$d/impostor_key" ] || ssh-keygen -q -t ed25519 -N '' -C "impostor" -f "$d/impostor_key"
    hostkey=$d/impostor_key
  fi
  mkdir -p "$STATE/$n/root/.ssh"; chmod 0700 "$STATE/$n/root/.ssh"
  cat > "$d/sshd_config" <<EOF
ListenAddress $(addr_of "$n"):22
HostKey $hostkey
PidFile $d/sshd.pid
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
MaxStartups 64:30:128
UseDNS no
EOF
  in_node "$n" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || say "sshd on $n failed: $(tail -2 "$d/sshd.log")"
}

# The nodes' /root is private, so the binary (usually under ~/.cache) is linked into $STATE.
stage_binary() {
  local bin site
  bin=$(corral_bin); site=${CORRAL_SITE_ROOT:-$(dirname "$bin")/site}
  mkdir -p "$STATE/bin"
  ln -f "$bin" "$STATE/bin/corral" 2>/dev/null || cp -f "$bin" "$STATE/bin/corral"
  rm -rf "$STATE/bin/site"
  if [ -d "$site" ]; then cp -rl "$site" "$STATE/bin/site" 2>/dev/null || cp -r "$site" "$STATE/bin/site"; fi
}

start_corral() {
  local n=$1 bin=$STATE/bin/corral
  [ -x "$bin" ] || stage_binary
  mkdir -p "$STATE/$n/data"
  : > "$STATE/$n/corral.log"
  # exec all the way down (subshell -> nsenter -> setsid -> corral keep one pid), so the pid
  # file names corral itself and "stop" really signals it
  (
    export CORRAL_ROOT_PASSWORD=$PASSWORD CORRAL_LOG=${CORRAL_LOG:-info,openraft=error,openraft::replication=off} \
      CORRAL_SSH_HOST_KEY="$STATE/$n/ssh/ssh_host_ed25519_key.pub"
    exec nsenter --net="/run/netns/$(ns_of "$n")" --mount="$STATE/ns/$n.mnt" --uts="$STATE/ns/$n.uts" -- \
      setsid "$bin" serve --data-dir "$STATE/$n/data" --listen "$(addr_of "$n"):$PORT" --node-name "$n" \
      --site-root "$STATE/bin/site" >>"$STATE/$n/corral.log" 2>&1 </dev/null
  ) &
  echo $! > "$STATE/$n/corral.pid"
}

wait_corral() {
  local n=$1
  for _ in $(seq 600); do
    grep -q "listening on https://" "$STATE/$n/corral.log" && return 0
    kill -0 "$(cat "$STATE/$n/corral.pid")" 2>/dev/null || { tail -5 "$STATE/$n/corral.log" >&2; die "corral on $n exited"; }
    sleep 0.1
  done
  die "corral on $n did not start within 60 s"
}

fingerprint_of() { sed -n 's/.*listening on https:.*fingerprint \([0-9A-F:]*\).*/\1/p' "$STATE/$1/corral.log" | tail -1; }

cli() {  # cli NODE ARGS...: the corral CLI inside NODE against its data dir
  local n=$1; shift
  local sub=$1; shift
  in_node "$n" "$STATE/bin/corral" "$sub" --data-dir "$STATE/$n/data" "$@"
}

cluster() {
  local first n info
  first=$(nodes | head -1)
  cli "$first" cluster create lab --link0 "$(addr_of "$first")" | tail -1
  info=$(cli "$first" cluster join-info) || die "no join information on $first"
  for n in $(nodes | tail -n +2); do
    echo "$PASSWORD" | cli "$n" cluster join "$info" --link0 "$(addr_of "$n")" | tail -1
  done
  cli "$first" cluster status
}

node_pids() { ip netns pids "$(ns_of "$1")" 2>/dev/null; }

poweroff() {
  local n=$1 pids
  index_of "$n" >/dev/null
  ip -n "$SW" link set "$LAB-$n-b" down
  pids=$(node_pids "$n"); [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  for _ in $(seq 50); do [ -z "$(node_pids "$n")" ] && break; sleep 0.1; done
  rm -f "$STATE/$n/ssh/sshd.pid"
}

poweron() {
  local n=$1
  index_of "$n" >/dev/null
  ip -n "$SW" link set "$LAB-$n-b" up
  [ -z "$(node_pids "$n")" ] || die "$n still has processes; poweroff first"
  start_sshd "$n"; start_corral "$n"; wait_corral "$n"
}

stop_corral() {
  local n=$1 pid
  pid=$(cat "$STATE/$n/corral.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}

partition() {  # partition A,B C,D ...
  heal
  local groups=("$@") g h a b
  [ ${#groups[@]} -ge 2 ] || die "partition needs at least two groups, e.g. partition n1 n2,n3"
  for g in "${groups[@]}"; do for a in ${g//,/ }; do index_of "$a" >/dev/null; done; done
  for g in "${groups[@]}"; do
    for h in "${groups[@]}"; do
      [ "$g" = "$h" ] && continue
      for a in ${g//,/ }; do
        for b in ${h//,/ }; do
          ip netns exec "$(ns_of "$a")" iptables -A INPUT -s "$(addr_of "$b")" -m comment --comment corral-lab -j DROP
          ip netns exec "$(ns_of "$a")" iptables -A OUTPUT -d "$(addr_of "$b")" -m comment --comment corral-lab -j DROP
        done
      done
    done
  done
}

heal() {
  local n r
  for n in $(nodes); do
    ip netns exec "$(ns_of "$n")" iptables -S 2>/dev/null | grep -- '--comment corral-lab' | sed 's/^-A/-D/' |
      while read -r r; do eval ip netns exec "$(ns_of "$n")" iptables "$r"; done
  done
  return 0
}

status() {
  local n
  for n in $(nodes); do
    ns_exists "$(ns_of "$n")" || { echo "$n: absent"; continue; }
    echo "$n $(addr_of "$n") link $(ip -n "$SW" -br link show "$LAB-$n-b" 2>/dev/null | awk '{print $2}') pids: $(node_pids "$n" | tr '\n' ' ')"
    ip netns exec "$(ns_of "$n")" iptables -S 2>/dev/null | grep -- 'corral-lab' | sed 's/^/   /'
  done
}

down() {
  local n
  for n in $(nodes); do
    if ns_exists "$(ns_of "$n")"; then
      pids=$(node_pids "$n"); [ -n "$pids" ] && kill -9 $pids 2>/dev/null
      for _ in $(seq 50); do [ -z "$(node_pids "$n")" ] && break; sleep 0.1; done
      ip netns del "$(ns_of "$n")"
    fi
    umount "$STATE/ns/$n.mnt" "$STATE/ns/$n.uts" 2>/dev/null
    rm -f "$STATE/ns/$n.mnt" "$STATE/ns/$n.uts" "$STATE/$n/ssh/sshd.pid"
  done
  nfs_down
  ns_exists "$SW" && ip netns del "$SW"
  ip link del "$HOSTIF" 2>/dev/null
  grep -q " $STATE/ns " /proc/self/mountinfo && umount "$STATE/ns"
  return 0
}

# --- the storage node: rpcbind + NFS-Ganesha in their own net + mount namespace. Its /run is a
# private tmpfs, because rpcbind's socket and lock live at fixed paths under /run and two labs
# (or the machine) must not share one rpcbind.
ST=$LAB-st
ST_ADDR=$SUBNET.200
G=$STATE/ganesha

in_st() { nsenter --net="/run/netns/$ST" --mount="$STATE/ns/st.mnt" -- "$@"; }
# for "cmd &": exec all the way down, so $! is the daemon's own pid
bg_in_st() { exec nsenter --net="/run/netns/$ST" --mount="$STATE/ns/st.mnt" -- "$@"; }
st_alive() { [ -f "$G/$1.pid" ] && kill -0 "$(cat "$G/$1.pid")" 2>/dev/null; }

nfs_up() {
  for t in /usr/bin/ganesha.nfsd /usr/sbin/rpcbind; do [ -x $t ] || die "$t is missing (scripts/bootstrap.sh --test installs nfs-ganesha, rpcbind)"; done
  ns_exists "$SW" || die "no lab: run 'lab.sh up' first"
  ns_exists "$ST" || ip netns add "$ST"
  ip -n "$ST" link set lo up
  if ! ip -n "$ST" link show eth0 >/dev/null 2>&1; then
    ip -n "$SW" link del "$LAB-st-b" 2>/dev/null
    ip -n "$SW" link add "$LAB-st-b" type veth peer name eth0 netns "$ST"
  fi
  ip -n "$SW" link set "$LAB-st-b" master br0 up
  ip -n "$ST" addr replace "$ST_ADDR/24" dev eth0
  ip -n "$ST" link set eth0 up
  mkdir -p "$G/recovery" "$STATE/nfs-export" "$STATE/ns"
  chmod 0755 "$STATE/nfs-export"
  if ! grep -q " $STATE/ns/st.mnt " /proc/self/mountinfo; then
    grep -q " $STATE/ns " /proc/self/mountinfo || { mount --bind "$STATE/ns" "$STATE/ns"; mount --make-private "$STATE/ns"; }
    touch "$STATE/ns/st.mnt"
    local hold=/mnt/.corral-lab-$LAB; mkdir -p "$hold"
    unshare --mount="$STATE/ns/st.mnt" --propagation slave sh -ec \
      "mount --bind $STATE $hold; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p $STATE /run/rpcbind; mount --move $hold $STATE"
    rmdir "$hold" 2>/dev/null
  fi
  cat > "$G/ganesha.conf" <<EOF
NFS_CORE_PARAM { Bind_addr = $ST_ADDR; Protocols = 3, 4; mount_path_pseudo = true;
                 NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false; Enable_RQUOTA = false; }
NFSV4 { Graceless = true; Only_Numeric_Owners = true; RecoveryBackend = fs; RecoveryRoot = "$G/recovery"; }
EXPORT_DEFAULTS { Access_Type = RW; }
EXPORT { Export_Id = 1; Path = "$STATE/nfs-export"; Pseudo = "/export"; Protocols = 3, 4;
         Transports = TCP, UDP; Access_Type = RW; Squash = No_Root_Squash; SecType = sys;
         FSAL { Name = VFS; } }
LOG { Default_Log_Level = EVENT; }
EOF
  nfs_start
}

nfs_start() {
  [ -f "$G/ganesha.conf" ] || die "no NFS server configured: run 'lab.sh nfs up'"
  if ! st_alive rpcbind; then
    (bg_in_st /usr/sbin/rpcbind -f -h "$ST_ADDR" > "$G/rpcbind.log" 2>&1) &
    echo $! > "$G/rpcbind.pid"
    for _ in $(seq 50); do in_st bash -c "exec 3<>/dev/tcp/$ST_ADDR/111" 2>/dev/null && break; sleep 0.1; done
  fi
  if ! st_alive ganesha; then
    (bg_in_st /usr/bin/ganesha.nfsd -F -f "$G/ganesha.conf" -L "$G/ganesha.log" -N NIV_EVENT -p "$G/ganesha.pidfile" > "$G/ganesha.out" 2>&1) &
    echo $! > "$G/ganesha.pid"
  fi
  for _ in $(seq 100); do
    in_st bash -c "exec 3<>/dev/tcp/$ST_ADDR/2049" 2>/dev/null && { say "NFS server at $ST_ADDR:/export"; return 0; }
    st_alive ganesha || { tail -3 "$G/ganesha.log" >&2; die "ganesha exited"; }
    sleep 0.1
  done
  die "ganesha did not listen within 10 s"
}

nfs_stop() {  # abrupt, like a crash: SIGKILL
  local p
  for p in ganesha rpcbind; do
    if st_alive $p; then kill -9 "$(cat "$G/$p.pid")" 2>/dev/null; fi
    for _ in $(seq 50); do st_alive $p || break; sleep 0.1; done
    rm -f "$G/$p.pid"
  done
  return 0
}

nfs_down() {
  nfs_stop
  ns_exists "$ST" && ip netns del "$ST"
  umount "$STATE/ns/st.mnt" 2>/dev/null
  rm -f "$STATE/ns/st.mnt"
  return 0
}

nfs() {
  case "${1:-}" in
    up) nfs_up ;;
    stop) nfs_stop ;;
    start) nfs_start ;;
    poweroff) ip -n "$SW" link set "$LAB-st-b" down; nfs_stop ;;
    poweron) ip -n "$SW" link set "$LAB-st-b" up; nfs_start ;;
    status) for p in ganesha rpcbind; do if st_alive $p; then echo "$p: pid $(cat "$G/$p.pid")"; else echo "$p: not running"; fi; done ;;
    *) die "nfs up|stop|start|poweroff|poweron|status" ;;
  esac
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up "$@" ;;
  cluster) cluster ;;
  status) status ;;
  exec) n=$1; shift; index_of "$n" >/dev/null; in_node "$n" "$@" ;;
  corral) n=$1; shift; index_of "$n" >/dev/null; cli "$n" "$@" ;;
  fingerprint) fingerprint_of "$1" ;;
  poweroff) poweroff "$1" ;;
  poweron) poweron "$1" ;;
  stop) stop_corral "$1" ;;
  sshd)
    index_of "$1" >/dev/null
    case "${2:-}" in
      stop) sshd_stop "$1" ;;
      start) sshd_stop "$1"; start_sshd "$1" ;;
      impostor) sshd_stop "$1"; start_sshd "$1" impostor ;;
      *) die "sshd NODE stop|start|impostor" ;;
    esac ;;
  start) start_corral "$1"; wait_corral "$1" ;;
  partition) partition "$@" ;;
  heal) heal ;;
  nfs) nfs "$@" ;;
  down) down ;;
  purge) down; case "$STATE" in /run/*|/tmp/*) rm -rf "$STATE" ;; *) die "not removing $STATE (not under /run or /tmp)" ;; esac ;;
  *) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
