# shellcheck shell=bash
# Sourced by the firewalld fixtures' record.sh: a firewalld
# "host" without systemd. The lab's Debian 12 image (read-only, never modified) is the lower layer
# of an overlay mounted in a private mount namespace of network namespace pgsec-fwd-srv, with its
# own /proc, /sys, /dev, an empty tmpfs /run, a dbus-daemon --system and firewalld --nofork
# --nopid, all inside a chroot. Clients: pgsec-fwd-cli (198.18.210.2, allowed) and pgsec-fwd-den
# (198.18.211.2, denied) on veths to the server (198.18.210.1, 198.18.211.1). IPv6 is off.
#
# Every namespace is held by a process and entered through /proc/PID/ns (the lab's cleanup
# deletes every /run/netns/pgsec-* name). fwd_cleanup stops what fwd_up started, by PID.
#
# Needs: root, ip, nsenter, unshare, the image (ROOTFS). Sets W (work directory), HOLD_SRV,
# HOLD_CLI, HOLD_DEN. Inside the chroot, /opt/pgsec-io is $W/io and, when PGSEC_PY_SITE is set,
# /opt/pgsec-py is that site-packages and /opt/pgsec-coll/ansible_collections/pgsec/hardening the
# checkout (read-only binds).

ROOTFS=${ROOTFS:-/var/cache/pgsec-lab/images/debian12/rootfs}
FWD_SRV=pgsec-fwd-srv FWD_CLI=pgsec-fwd-cli FWD_DEN=pgsec-fwd-den
FWD_PIDS=()

fwd_hold() {  # fwd_hold NAME [chroot] -> PID of the holder
    ip netns add "$1"
    if [ "${2:-}" = chroot ]; then
        local binds=""
        if [ -n "${PGSEC_PY_SITE:-}" ]; then
            binds="mkdir -p $W/root/opt/pgsec-py $W/root/opt/pgsec-coll/ansible_collections/pgsec/hardening &&
              mount --bind -o ro $PGSEC_PY_SITE $W/root/opt/pgsec-py &&
              mount --bind -o ro $FWD_REPO $W/root/opt/pgsec-coll/ansible_collections/pgsec/hardening &&"
        fi
        ip netns exec "$1" unshare -m --propagation private sh -c "
            mount -t overlay pgsec-fwd -o lowerdir=$ROOTFS,upperdir=$W/up,workdir=$W/work $W/root &&
            mount -t proc proc $W/root/proc && mount -t sysfs sys $W/root/sys &&
            mount --rbind /dev $W/root/dev && mount -t tmpfs -o mode=755 tmpfs $W/root/run &&
            mkdir -p $W/root/opt/pgsec-io && mount --bind $W/io $W/root/opt/pgsec-io && $binds
            exec chroot $W/root sleep 100000" </dev/null >/dev/null 2>&1 &
    else
        ip netns exec "$1" sleep 100000 </dev/null >/dev/null 2>&1 &
    fi
    FWD_PIDS+=($!)
    FWD_HOLD_PID=$!
    sleep 0.3
}

srv() { nsenter -t "$HOLD_SRV" -n -m -r -w "$@"; }   # inside the chroot
srv_net() { nsenter -t "$HOLD_SRV" -n "$@"; }        # the server's network, the host's files
cli() { nsenter -t "$HOLD_CLI" -n "$@"; }
den() { nsenter -t "$HOLD_DEN" -n "$@"; }

fwd_up() {
    FWD_REPO=${FWD_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    W=$(mktemp -d /tmp/pgsec-fwdtest.XXXXXX)
    mkdir -p "$W/up" "$W/work" "$W/root" "$W/io"
    chmod 755 "$W" "$W/io"
    fwd_hold "$FWD_SRV" chroot; HOLD_SRV=$FWD_HOLD_PID
    fwd_hold "$FWD_CLI"; HOLD_CLI=$FWD_HOLD_PID
    fwd_hold "$FWD_DEN"; HOLD_DEN=$FWD_HOLD_PID
    srv true || { echo "cannot enter the server namespace (overlay of $ROOTFS failed?)" >&2; return 1; }
    local pid
    for pid in "$HOLD_SRV" "$HOLD_CLI" "$HOLD_DEN"; do
        nsenter -t "$pid" -n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        nsenter -t "$pid" -n ip link set lo up
    done
    ip link add pgfwd-s0 netns "$HOLD_SRV" type veth peer name pgfwd-c0 netns "$HOLD_CLI"
    ip link add pgfwd-s1 netns "$HOLD_SRV" type veth peer name pgfwd-d0 netns "$HOLD_DEN"
    srv_net ip addr add 198.18.210.1/24 dev pgfwd-s0
    srv_net ip addr add 198.18.211.1/24 dev pgfwd-s1
    cli ip addr add 198.18.210.2/24 dev pgfwd-c0
    den ip addr add 198.18.211.2/24 dev pgfwd-d0
    srv_net ip link set pgfwd-s0 up
    srv_net ip link set pgfwd-s1 up
    cli ip link set pgfwd-c0 up
    den ip link set pgfwd-d0 up

    srv mkdir -p /run/dbus
    FWD_DBUS_PID=$(srv dbus-daemon --system --fork --print-pid | head -1)
    FWD_PIDS+=("$FWD_DBUS_PID")
    # nsenter without --fork execs firewalld, so $! is firewalld's own PID
    nsenter -t "$HOLD_SRV" -n -m -r -w firewalld --nofork --nopid </dev/null >"$W/firewalld.out" 2>&1 &
    FWD_FIREWALLD_PID=$!
    FWD_PIDS+=("$FWD_FIREWALLD_PID")
    local i
    for ((i = 0; i < 300; i++)); do
        srv firewall-cmd --state >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "firewalld did not start:" >&2
    cat "$W/firewalld.out" >&2
    return 1
}

fwd_cleanup() {
    set +e
    local pid meta
    # rollback sleepers the module left in the server's namespace (their PIDs are in its state directory)
    for meta in "$W"/up/var/lib/pgsec-hardening/firewall-rollback/*/meta.json; do
        [ -f "$meta" ] || continue
        pid=$(sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' "$meta")
        [ -n "$pid" ] && grep -qa pgsec-firewall-rollback "/proc/$pid/cmdline" 2>/dev/null && kill -- "-$pid"
    done
    for ((i = ${#FWD_PIDS[@]} - 1; i >= 0; i--)); do kill "${FWD_PIDS[$i]}" 2>/dev/null; done
    wait 2>/dev/null
    # daemons D-Bus activated inside the chroot (polkitd): found by their root directory
    for pid in /proc/[0-9]*; do
        case "$(readlink "$pid/root" 2>/dev/null)" in "$W"/root*) kill "${pid#/proc/}" 2>/dev/null ;; esac
    done
    sleep 0.3
    for name in $FWD_SRV $FWD_CLI $FWD_DEN; do [ -e "/run/netns/$name" ] && ip netns del "$name"; done
    rm -rf "$W"
}
