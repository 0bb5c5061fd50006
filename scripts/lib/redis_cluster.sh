# shellcheck shell=bash
# A Redis Cluster on 127.0.0.1 from Debian's redis-server (issue 18): three masters and three
# replicas, and room for a fourth master with its replica (`add-master`). Sourced by
# scripts/redis-cluster after scripts/lib/services.sh (packages, pid and port checks).
#
#   ims_rcluster_up / ims_rcluster_down / ims_rcluster_status / ims_rcluster_any_running
#   ims_rcluster_add_master     start node7 and node8, join node7 as a master and node8 as its
#                               replica, then move a fair share of the slots to node7
#   ims_rcluster_destroy        down, then remove the data (a fresh cluster on the next `up`)
#   ims_rcluster_env            prints the service's IMS_REDIS_CLUSTER
#
# Ports: node N (1..8) listens on IMS_REDIS_CLUSTER_PORT + N - 1 (23822-23829) and talks to the
# other nodes on its cluster bus port, IMS_REDIS_CLUSTER_BUS_PORT + N - 1 (13822-13829): Redis
# would take port + 10000 (33822...), which lies in the kernel's ephemeral range (see
# _ims_port_check_ephemeral). 23822: off the grid scripts/services moves a taken dev/test Redis
# port along (23790, 23800, 23810, 23820, ... and 23791, 23801, ...), and clear of the Sentinel
# cluster's 23805-23806 and 23815-23816. Data, logs and each node's nodes.conf in
# $IMS_DATA_DIR/redis-cluster/nodeN.

IMS_REDIS_CLUSTER_PORT="${IMS_REDIS_CLUSTER_PORT:-23822}"
IMS_REDIS_CLUSTER_BUS_PORT="${IMS_REDIS_CLUSTER_BUS_PORT:-$((IMS_REDIS_CLUSTER_PORT - 10000))}"
for _v in IMS_REDIS_CLUSTER_PORT IMS_REDIS_CLUSTER_BUS_PORT; do
    if ! [[ "${!_v}" =~ ^[0-9]+$ ]] || ((10#${!_v} < 1 || 10#${!_v} > 65528)); then
        _ims_die "$_v='${!_v}' is not a port number (the first of eight)"
    fi
    _ims_port_check_ephemeral "${!_v}" "$_v"
done
unset _v

# Milliseconds a master may be unreachable before its replica takes over (Redis's default is
# 15000). As with the Sentinels' 1 s (scripts/lib/cluster.sh), the cost of a short one is a
# needless failover when a node stalls that long, cheap for a cache the service bypasses
# while it moves; the failover itself adds about 1 s (the replica's election delay).
_ims_rcluster_node_timeout=1000

_ims_rcluster_base() { printf '%s/redis-cluster\n' "$IMS_DATA_DIR"; }
_ims_rcluster_dir() { printf '%s/node%s\n' "$(_ims_rcluster_base)" "$1"; } # N
_ims_rcluster_port() { printf '%s\n' $((IMS_REDIS_CLUSTER_PORT + $1 - 1)); } # N
_ims_rcluster_bus() { printf '%s\n' $((IMS_REDIS_CLUSTER_BUS_PORT + $1 - 1)); } # N
_ims_rcluster_cli() { redis-cli -h 127.0.0.1 -p "$(_ims_rcluster_port "$1")" "${@:2}"; } # N ARGS

_ims_rcluster_pid() { # N -> pid of node N's live redis-server, or fail
    local pidfile pid
    pidfile="$(_ims_rcluster_dir "$1")/redis.pid"
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && _ims_pid_alive "$pid" redis-server && printf '%s\n' "$pid"
}

# The nodes know each other by address (nodes.conf): a cluster cannot move to other ports.
_ims_rcluster_check_ports() {
    local conf port
    conf="$(_ims_rcluster_dir 1)/redis.conf"
    [[ -f "$conf" ]] || return 0
    port="$(sed -n 's/^port //p' "$conf")"
    [[ -z "$port" || "$port" == "$IMS_REDIS_CLUSTER_PORT" ]] ||
        _ims_die "the Redis Cluster in $(_ims_rcluster_base) was made on port $port: set IMS_REDIS_CLUSTER_PORT=$port (scripts/redis-cluster destroy removes it)"
}

_ims_rcluster_info() { # N FIELD -> a field of CLUSTER INFO on node N
    _ims_rcluster_cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

_ims_rcluster_state_ok() { [[ "$(_ims_rcluster_info "$1" cluster_state)" == ok ]]; } # N

_ims_rcluster_known() { # N -> the number of nodes node N knows (1: not joined yet)
    local known
    known="$(_ims_rcluster_info "$1" cluster_known_nodes)"
    printf '%s\n' "${known:-0}"
}

_ims_rcluster_start() { # N
    local n="$1" dir port bus
    dir="$(_ims_rcluster_dir "$n")"
    port="$(_ims_rcluster_port "$n")"
    bus="$(_ims_rcluster_bus "$n")"
    _ims_rcluster_pid "$n" >/dev/null && return 0
    _ims_port_open "$port" && _ims_die "port $port is taken (node$n); set IMS_REDIS_CLUSTER_PORT"
    _ims_port_open "$bus" && _ims_die "port $bus is taken (node$n's bus); set IMS_REDIS_CLUSTER_BUS_PORT"
    (umask 022 && mkdir -p "$dir")
    # The deployed settings (memory bound, LRU, no persistence) and the cluster's own. A
    # restarted node keeps its identity and role from nodes.conf and rejoins; with no data on
    # disk it comes back empty, and as a replica if its slots were taken over meanwhile.
    # `require-full-coverage no`: the masters that are up keep serving their slots while one
    # is being replaced (the default refuses every command then). Validity factor 0: a
    # replica may always take over, however long it was cut off (a cache loses nothing that
    # matters by it).
    cat >"$dir/redis.conf" <<CONF
include $IMS_REPO_ROOT/deploy/redis/redis.conf
port $port
cluster-enabled yes
cluster-port $bus
cluster-config-file $dir/nodes.conf
cluster-node-timeout $_ims_rcluster_node_timeout
cluster-require-full-coverage no
cluster-replica-validity-factor 0
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
daemonize yes
CONF
    redis-server "$dir/redis.conf" || _ims_die "node$n failed to start; log: $dir/redis.log"
    _ims_wait _ims_redis_ping "$port" || _ims_die "node$n does not answer on $port; log: $dir/redis.log"
}

_ims_rcluster_addrs() { # N... -> "127.0.0.1:PORT" of each
    local n
    for n in "$@"; do printf '127.0.0.1:%s\n' "$(_ims_rcluster_port "$n")"; done
}

_ims_rcluster_all_ok() { # N... -> 0 if every node says cluster_state:ok
    local n
    for n in "$@"; do _ims_rcluster_state_ok "$n" || return 1; done
}

# The nodes of the cluster now: 1-6, and 7-8 once added (they have a nodes.conf).
_ims_rcluster_members() {
    local n
    for n in 1 2 3 4 5 6 7 8; do
        ((n <= 6)) || [[ -f "$(_ims_rcluster_dir "$n")/nodes.conf" ]] || continue
        printf '%s\n' "$n"
    done
}

ims_rcluster_up() {
    _ims_rcluster_check_ports
    local n
    local -a members
    mapfile -t members < <(_ims_rcluster_members)
    for n in "${members[@]}"; do _ims_rcluster_start "$n"; done
    if (("$(_ims_rcluster_known 1)" == 1)); then
        # A new cluster: redis-cli puts the masters on nodes 1-3 and a replica of each on 4-6.
        # shellcheck disable=SC2046
        redis-cli --cluster create $(_ims_rcluster_addrs 1 2 3 4 5 6) \
            --cluster-replicas 1 --cluster-yes >"$(_ims_rcluster_base)/create.log" 2>&1 ||
            _ims_die "redis-cli --cluster create failed; see $(_ims_rcluster_base)/create.log"
    fi
    _ims_wait _ims_rcluster_all_ok "${members[@]}" ||
        _ims_die "the Redis Cluster did not reach cluster_state:ok; logs in $(_ims_rcluster_base)/node*/redis.log"
    _ims_note "Redis Cluster up: $(_ims_rcluster_addrs "${members[@]}" | paste -sd' ')"
}

# Starts node7 and node8 and joins them: node7 as an empty master, node8 as its replica, then
# `rebalance --cluster-use-empty-masters` moves a fair share of the slots (with their keys,
# MIGRATE by MIGRATE: clients meanwhile get ASK for keys already moved) to node7.
ims_rcluster_add_master() {
    local seed new_id
    _ims_rcluster_check_ports
    seed="$(_ims_rcluster_addrs 1)"
    _ims_rcluster_all_ok 1 || _ims_die "the Redis Cluster is not up (scripts/redis-cluster up)"
    _ims_rcluster_start 7
    _ims_rcluster_start 8
    if (("$(_ims_rcluster_known 7)" == 1)); then
        redis-cli --cluster add-node "$(_ims_rcluster_addrs 7)" "$seed" >/dev/null ||
            _ims_die "add-node node7 failed"
    fi
    _ims_wait _ims_rcluster_all_ok 7 || _ims_die "node7 did not join"
    new_id="$(_ims_rcluster_cli 7 cluster myid | tr -d '\r')"
    if (("$(_ims_rcluster_known 8)" == 1)); then
        redis-cli --cluster add-node "$(_ims_rcluster_addrs 8)" "$seed" \
            --cluster-slave --cluster-master-id "$new_id" >/dev/null ||
            _ims_die "add-node node8 failed"
    fi
    _ims_wait _ims_rcluster_all_ok 8 || _ims_die "node8 did not join"
    # Every node must know node7 before slots move to it, or rebalance refuses.
    _ims_wait _ims_rcluster_agree || _ims_die "the nodes do not agree on the configuration"
    redis-cli --cluster rebalance "$seed" --cluster-use-empty-masters \
        >"$(_ims_rcluster_base)/rebalance.log" 2>&1 ||
        _ims_die "rebalance failed; see $(_ims_rcluster_base)/rebalance.log"
    _ims_note "node7 ($(_ims_rcluster_addrs 7)) serves $(_ims_rcluster_slots 7) slots; node8 is its replica"
}

_ims_rcluster_agree() { redis-cli --cluster check "$(_ims_rcluster_addrs 1)" >/dev/null 2>&1; }

_ims_rcluster_slots() { # N -> how many slots node N serves
    _ims_rcluster_cli "$1" cluster nodes | awk '$3 ~ /myself/ {
        n = 0
        for (i = 9; i <= NF; i++) {
            if ($i ~ /^\[/) continue
            split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1)
        }
        print n
    }'
}

ims_rcluster_down() {
    local n pid
    for n in 1 2 3 4 5 6 7 8; do
        if pid="$(_ims_rcluster_pid "$n")"; then
            kill -TERM "$pid"
            _ims_wait _ims_pid_gone "$pid" || _ims_die "node$n (pid $pid) did not stop"
            _ims_note "node$n stopped"
        fi
    done
}

ims_rcluster_destroy() {
    ims_rcluster_down
    rm -rf "$(_ims_rcluster_base)"
    _ims_note "removed $(_ims_rcluster_base)"
}

ims_rcluster_any_running() {
    local n
    for n in 1 2 3 4 5 6 7 8; do _ims_rcluster_pid "$n" >/dev/null && return 0; done
    return 1
}

# One line per node (port, role, slots, pid), then the cluster's state; 1 if a node is down
# or the state is not ok.
ims_rcluster_status() {
    _ims_rcluster_check_ports
    local n pid rc=0 role state=""
    while read -r n; do
        if pid="$(_ims_rcluster_pid "$n")"; then
            role="$(_ims_rcluster_cli "$n" role 2>/dev/null | head -n 1 | tr -d '\r')"
            printf 'node%s  127.0.0.1:%s  %-6s  %5s slots  pid %s\n' "$n" \
                "$(_ims_rcluster_port "$n")" "$role" "$(_ims_rcluster_slots "$n")" "$pid"
            [[ -n "$state" ]] || state="$(_ims_rcluster_info "$n" cluster_state)"
        else
            printf 'node%s  127.0.0.1:%s  down\n' "$n" "$(_ims_rcluster_port "$n")"
            rc=1
        fi
    done < <(_ims_rcluster_members)
    printf 'cluster_state: %s\n' "${state:-unknown}"
    [[ "$state" == ok ]] || rc=1
    return "$rc"
}

ims_rcluster_env() {
    printf "IMS_REDIS_CLUSTER='%s'\n" "$(_ims_rcluster_addrs 1 2 3 | paste -sd,)"
}
