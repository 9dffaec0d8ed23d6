#!/usr/bin/env bash
# Real-host check of postgresql_access_firewall (nftables, iptables-nft, iptables-legacy) in
# network namespaces it creates and removes: pgsec-fwtest-srv (the "server", which also gets
# a private mount namespace with /etc and /var/lib overlaid, so the module's files never reach
# the host), pgsec-fwtest-cli (allowed client, 198.18.200.2) and pgsec-fwtest-den (denied
# client, 198.18.201.2). A listener on 5432 (and 8080, a port the firewall must not touch)
# runs in the server namespace. Needs root, nft, iptables-nft/-legacy, python3 with ansible
# (PYTHON=/path/to/venv/bin/python). Traffic stays on veths between these namespaces.
#
#   sudo PYTHON=/var/cache/pgsec-lab/venv-*/bin/python tests/manual/firewall_netns.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
PY3=/usr/bin/python3  # for the listeners and probes, also run as the server user (no pyenv under /root)
W=$(mktemp -d /tmp/pgsec-fwtest.XXXXXX)
SRV=pgsec-fwtest-srv CLI=pgsec-fwtest-cli DEN=pgsec-fwtest-den
declare -A HOLD=()
PIDS=()
FAILED=0
RESULTS=()

cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    # rollback sleepers the module left in our namespace (their PIDs are in its state directory)
    for meta in "$W"/ov/lib.up/pgsec-hardening/firewall-rollback/*/meta.json; do
        [ -f "$meta" ] || continue
        pid=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("pid") or "")' "$meta")
        [ -n "$pid" ] && grep -qa pgsec-firewall-rollback "/proc/$pid/cmdline" 2>/dev/null && kill -- "-$pid"
    done
    for name in "${!HOLD[@]}"; do kill "${HOLD[$name]}" 2>/dev/null; done
    wait 2>/dev/null
    for name in $SRV $CLI $DEN; do [ -e "/run/netns/$name" ] && ip netns del "$name"; done
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/lib/ansible_collections/pgsec" "$W/ov/etc.up" "$W/ov/etc.work" "$W/ov/lib.up" "$W/ov/lib.work"
ln -s "$REPO" "$W/lib/ansible_collections/pgsec/hardening"
MODULE=$REPO/plugins/modules/postgresql_access_firewall.py

# ------------------------------------------------------------------ namespaces
# Each namespace is held by a process and entered through /proc/PID/ns, so it keeps working even
# if someone deletes its name (the lab's cleanup removes every /run/netns/pgsec-*).
hold() {  # hold NAME [overlay]
    ip netns add "$1"
    if [ "${2:-}" = overlay ]; then
        ip netns exec "$1" unshare -m --propagation private sh -c "
            mount -t overlay overlay -o lowerdir=/etc,upperdir=$W/ov/etc.up,workdir=$W/ov/etc.work /etc &&
            mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$W/ov/lib.up,workdir=$W/ov/lib.work /var/lib &&
            exec sleep 100000" </dev/null >/dev/null 2>&1 &
    else
        ip netns exec "$1" sleep 100000 </dev/null >/dev/null 2>&1 &
    fi
    HOLD[$1]=$!
    sleep 0.3
}
in_ns() { local name=$1; shift; nsenter -t "${HOLD[$name]}" -n -m "$@"; }
srv() { in_ns "$SRV" "$@"; }

hold "$SRV" overlay
hold "$CLI"
hold "$DEN"
for name in $SRV $CLI $DEN; do
    in_ns "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_ns "$name" ip link set lo up
done
ip link add pgfw-s0 netns "${HOLD[$SRV]}" type veth peer name pgfw-c0 netns "${HOLD[$CLI]}"
ip link add pgfw-s1 netns "${HOLD[$SRV]}" type veth peer name pgfw-d0 netns "${HOLD[$DEN]}"
srv ip addr add 198.18.200.1/24 dev pgfw-s0
srv ip addr add 198.18.201.1/24 dev pgfw-s1
in_ns "$CLI" ip addr add 198.18.200.2/24 dev pgfw-c0
in_ns "$DEN" ip addr add 198.18.201.2/24 dev pgfw-d0
for link in "$SRV pgfw-s0" "$SRV pgfw-s1" "$CLI pgfw-c0" "$DEN pgfw-d0"; do
    read -r name dev <<<"$link"
    in_ns "$name" ip link set "$dev" up
done
in_ns "$CLI" ip route add 198.18.201.0/24 via 198.18.200.1
in_ns "$DEN" ip route add 198.18.200.0/24 via 198.18.201.1

cat > "$W/net.py" <<'EOF'
"""listen PORT... | probe HOST PORT [TIMEOUT] (prints open/refused/unreachable/timeout and milliseconds)."""
import errno, socket, sys, threading, time

def serve(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('0.0.0.0', port))
    server.listen(16)
    while True:
        conn, _ = server.accept()
        conn.sendall(b'ok\n')
        conn.close()

if sys.argv[1] == 'listen':
    for port in sys.argv[2:]:
        threading.Thread(target=serve, args=(int(port),), daemon=True).start()
    while True:
        time.sleep(3600)
start = time.time()
try:
    sock = socket.create_connection((sys.argv[2], int(sys.argv[3])), float(sys.argv[4]) if len(sys.argv) > 4 else 2)
    outcome = 'open' if sock.recv(3) == b'ok\n' else 'open?'
except socket.timeout:
    outcome = 'timeout'
except OSError as exc:
    outcome = {errno.ECONNREFUSED: 'refused', errno.EHOSTUNREACH: 'unreachable', errno.EPERM: 'eperm',
               errno.ENETUNREACH: 'unreachable', errno.EACCES: 'eacces'}.get(exc.errno, exc.strerror)
print('%s %d' % (outcome, (time.time() - start) * 1000))
EOF

chmod 755 "$W"
chmod 644 "$W/net.py"
# nsenter (no --fork) execs the listener, so $! is the listener's own PID
for spec in "$SRV 5432 6432 8080" "$CLI 5432" "$DEN 5432"; do
    read -r name ports <<<"$spec"
    # shellcheck disable=SC2086  # several ports
    nsenter -t "${HOLD[$name]}" -n -m "$PY3" "$W/net.py" listen $ports </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
done
sleep 0.5

# ------------------------------------------------------------------ helpers
probe() {  # probe NS HOST PORT [TIMEOUT] -> "outcome ms"
    in_ns "$1" "$PY3" "$W/net.py" probe "$2" "$3" "${4:-2}"
}
expect() {  # expect DESCRIPTION WANTED "outcome ms"
    local got=${3%% *}
    if [ "$got" = "$2" ]; then
        echo "  ok   $1: $3 ms"
    else
        echo "  FAIL $1: wanted $2, got $3 ms"
        FAILED=$((FAILED + 1))
    fi
}
check() {  # check DESCRIPTION command...
    if "${@:2}"; then echo "  ok   $1"; else echo "  FAIL $1"; FAILED=$((FAILED + 1)); fi
}
reach() {  # reach LABEL allowed_wanted denied_wanted [port]
    local port=${4:-5432}
    expect "$1: allowed client -> $port" "$2" "$(probe "$CLI" 198.18.200.1 "$port")"
    expect "$1: denied client -> $port" "$3" "$(probe "$DEN" 198.18.201.1 "$port")"
}
module() {  # module ARGS_JSON -> module result JSON in $W/out.json, elapsed ms in $W/ms
    printf '{"ANSIBLE_MODULE_ARGS": %s}' "$1" > "$W/args.json"
    local start end
    start=$(date +%s%N)
    srv env PYTHONPATH="$W/lib" "$PYTHON" "$MODULE" "$W/args.json" > "$W/out.json" || true
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) > "$W/ms"
}
field() { "$PYTHON" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$W/out.json" "$1"; }
note() { RESULTS+=("$1"); }
foreign_state() {  # the rules that are not ours, as text
    srv nft list table inet keepme 2>/dev/null | grep -v -E 'counter packets|^$' || true
    srv iptables-nft-save 2>/dev/null | grep -E '^-A' | grep -v PGSEC || true
    srv iptables-legacy-save 2>/dev/null | grep -E '^-A' | grep -v PGSEC || true
}
wait_rollback() {  # wait until the module's rollback of token $1 ran (fired marker), at most $2 seconds
    local dir=$W/ov/lib.up/pgsec-hardening/firewall-rollback/$1 i
    for ((i = 0; i < $2 * 10; i++)); do
        [ -f "$dir/fired" ] && grep -q restored "$dir/rollback.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------------------------ someone else's rules
srv nft -f - <<'EOF'
table inet keepme {
	set admins { type ipv4_addr; elements = { 198.18.200.77 } }
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 8080 counter accept
		ip saddr @admins tcp dport 22 accept
	}
}
EOF
srv iptables-nft -A INPUT -p tcp --dport 8080 -m comment --comment "not pgsec" -j ACCEPT
foreign_state > "$W/foreign.before"

echo "== no firewall"
reach baseline open open
expect "baseline: denied client -> 8080" open "$(probe "$DEN" 198.18.201.1 8080)"

# ------------------------------------------------------------------ nftables
echo "== nftables, drop (rollback_timeout 0)"
module '{"sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "changed, backend nftables" test "$(field changed) $(field backend)" = "true nftables"
note "module apply (nftables, no rollback): $(cat "$W/ms") ms"
reach drop open timeout
expect "drop: denied client -> 8080 (not our port)" open "$(probe "$DEN" 198.18.201.1 8080)"
foreign_state > "$W/foreign.after"
check "foreign nft table and iptables-nft rule untouched" cmp -s "$W/foreign.before" "$W/foreign.after"
module '{"sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "re-run is idempotent (changed false)" test "$(field changed)" = false
note "module re-run (nftables, unchanged): $(cat "$W/ms") ms"

echo "== nftables, reject"
module '{"sources": ["198.18.200.2/32"], "action": "reject", "log": true, "rollback_timeout": 0, "persist": false}'
reach reject open refused
srv nft list table inet pgsec > "$W/pgsec.table"
start=$(date +%s%N)
for i in $(seq 20); do printf 'table inet pgsec {}\ndelete table inet pgsec\n' | cat - "$W/pgsec.table" | srv nft -f -; done
note "nft -f (replace table inet pgsec, 1 source), with nsenter and process start: $(( ($(date +%s%N) - start) / 20000 )) us per load"

echo "== nftables, rollback fires when not confirmed"
module '{"sources": [], "allow_none": true, "rollback_timeout": 5, "persist": false}'
returned=$(date +%s%N)
token=$(field rollback_token)
check "rollback armed ($(field rollback_method))" test -n "$token" -a "$token" != null
reach "closed, before rollback" timeout timeout
check "rollback ran within 8 s" wait_rollback "$token" 8
note "rollback restored $(( ($(date +%s%N) - returned) / 1000000 )) ms after the module returned (rollback_timeout 5 s)"
reach "after rollback (reject is back)" open refused
srv nft list table inet pgsec > "$W/pgsec.table.after"
check "table after rollback identical to before the change" diff <(grep -v 'counter packets' "$W/pgsec.table") \
    <(grep -v 'counter packets' "$W/pgsec.table.after")

echo "== nftables, confirm keeps the change and persists it"
module '{"sources": ["198.18.200.2/32"], "action": "drop", "rollback_timeout": 3}'
check "warned about the fired rollback" grep -q 'was not confirmed in time' "$W/out.json"
token=$(field rollback_token)
module "{\"confirm\": \"$token\"}"
check "confirmed" test "$(field confirmed)" = "$token"
check "persisted pgsec.nft and nftables.conf" test -f "$W/ov/etc.up/nftables.d/pgsec.nft" -a -f "$W/ov/etc.up/nftables.conf"
sleep 4
reach "4 s after confirm" open timeout
module "{\"confirm\": \"$token\"}"
check "second confirm fails" grep -q '"failed": true' "$W/out.json"
echo "   boot simulation: flush ruleset; nft -f /etc/nftables.conf (the overlaid one)"
srv nft flush ruleset
srv nft -f /etc/nftables.conf
reach "after reboot" open timeout
# Debian's nftables.conf starts with "flush ruleset": put someone else's rules back
srv iptables-nft -A INPUT -p tcp --dport 8080 -m comment --comment "not pgsec" -j ACCEPT
srv nft -f - <<'EOF'
table inet keepme {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 8080 counter accept
	}
}
EOF

echo "== nftables, egress of the server user"
uid=$(id -u postgres 2>/dev/null || id -u nobody)
user=$(id -nu "$uid")
module "{\"sources\": [\"198.18.200.2/32\"], \"server_user\": \"$user\", \"egress\": [{\"host\": \"198.18.200.2\", \"port\": 5432}], \"rollback_timeout\": 0, \"persist\": false}"
check "egress applied" test "$(field changed)" = true
expect "egress: $user -> allowed host" open "$(srv setpriv --reuid "$uid" --regid 65534 --clear-groups "$PY3" "$W/net.py" probe 198.18.200.2 5432)"
expect "egress: $user -> other host (rejected)" unreachable "$(srv setpriv --reuid "$uid" --regid 65534 --clear-groups "$PY3" "$W/net.py" probe 198.18.201.2 5432)"
expect "egress: root -> other host (untouched)" open "$(probe "$SRV" 198.18.201.2 5432)"
reach "egress on, ingress still" open timeout

echo "== nftables, state absent"
module '{"state": "absent", "rollback_timeout": 0}'
check "removed" test "$(field changed)" = true
check "table inet pgsec gone" bash -c "! nsenter -t ${HOLD[$SRV]} -n nft list table inet pgsec >/dev/null 2>&1"
check "persistence removed" bash -c "! grep -q pgsec $W/ov/etc.up/nftables.conf && test ! -e $W/ov/etc.up/nftables.d/pgsec.nft"
reach absent open open

# ------------------------------------------------------------------ iptables-nft
echo "== iptables (nft variant)"
module '{"backend": "iptables", "sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "backend iptables/nft" test "$(field backend)/$(field variant)" = iptables/nft
note "module apply (iptables-nft, no rollback): $(cat "$W/ms") ms"
reach iptables-nft open timeout
expect "iptables-nft: denied client -> 8080" open "$(probe "$DEN" 198.18.201.1 8080)"
module '{"backend": "iptables", "sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "re-run is idempotent" test "$(field changed)" = false
srv iptables-nft -I INPUT 1 -s 203.0.113.9 -j DROP
srv iptables-nft -A INPUT -p tcp -m multiport --dports 5432 -m comment --comment pgsec-hardening -j PGSEC-INPUT
module '{"backend": "iptables", "sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "drifted jumps repaired" test "$(field changed)" = true
check "one jump, first in INPUT, foreign rule kept second" test "$(srv iptables-nft -S INPUT | sed -n '2,3p' | tr '\n' '|')" = \
    "-A INPUT -p tcp -m multiport --dports 5432 -m comment --comment pgsec-hardening -j PGSEC-INPUT|-A INPUT -s 203.0.113.9/32 -j DROP|"
check "no duplicate jump" test "$(srv iptables-nft -S INPUT | grep -c PGSEC-INPUT)" = 1
srv iptables-nft -D INPUT -s 203.0.113.9 -j DROP
module '{"backend": "iptables", "sources": ["198.18.200.2/32"], "action": "reject", "rollback_timeout": 2}'
token=$(field rollback_token)
reach "iptables reject, before rollback" open refused
check "iptables rollback ran" wait_rollback "$token" 5
reach "iptables after rollback (drop is back)" open timeout
module '{"state": "absent", "rollback_timeout": 0}'
check "iptables chains removed" bash -c "! nsenter -t ${HOLD[$SRV]} -n iptables-nft-save | grep -q PGSEC"
foreign_state > "$W/foreign.after"
check "foreign iptables-nft rule still there" grep -q 'not pgsec' "$W/foreign.after"

# ------------------------------------------------------------------ iptables-legacy
echo "== iptables-legacy next to nftables rules: refused"
srv iptables-nft -F INPUT
srv iptables-legacy -A INPUT -p tcp --dport 8080 -j ACCEPT
module '{"sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "auto refuses to pick a side (names pgsec_firewall_backend)" grep -q "pgsec_firewall_backend: 'auto' cannot be chosen safely" "$W/out.json"
srv nft delete table inet keepme
srv nft flush ruleset
module '{"sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "auto picks iptables-legacy" test "$(field backend)/$(field variant)" = iptables/legacy
reach iptables-legacy open timeout
module '{"sources": ["198.18.200.2/32"], "rollback_timeout": 0, "persist": false}'
check "legacy re-run is idempotent" test "$(field changed)" = false
module '{"state": "absent", "rollback_timeout": 0}'
reach "legacy absent" open open
check "legacy foreign rule kept" bash -c "nsenter -t ${HOLD[$SRV]} -n iptables-legacy-save | grep -q -- '--dport 8080 -j ACCEPT'"
srv iptables-legacy -F INPUT

# ------------------------------------------------------------------ scale
echo "== scale: 1000 /32 sources"
"$PYTHON" - "$W" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1] + '/lib')
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import ruleset as fp
spec = {'sources': ['10.%d.%d.1' % (i // 250, i % 250) for i in range(1000)], 'action': 'drop'}
open(sys.argv[1] + '/big.nft', 'w').write(fp.render_nftables(spec))
open(sys.argv[1] + '/big.rules', 'w').write(fp.render_iptables(spec, 4))
EOF
start=$(date +%s%N); srv nft -f "$W/big.nft"; note "nft -f, 1000 sources (set): $(( ($(date +%s%N) - start) / 1000000 )) ms"
start=$(date +%s%N); srv nft -f "$W/big.nft"; note "nft -f, 1000 sources, replacing: $(( ($(date +%s%N) - start) / 1000000 )) ms"
srv nft delete table inet pgsec
start=$(date +%s%N); srv iptables-nft-restore --noflush "$W/big.rules"; note "iptables-nft-restore, 1000 rules: $(( ($(date +%s%N) - start) / 1000000 )) ms"
start=$(date +%s%N); srv iptables-legacy-restore --noflush "$W/big.rules"; note "iptables-legacy-restore, 1000 rules: $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "== measurements"
for line in "${RESULTS[@]}"; do echo "  $line"; done
if [ "$FAILED" -gt 0 ]; then
    echo "$FAILED check(s) FAILED"
    exit 1
fi
echo "all checks passed"
