# shellcheck shell=bash
# The local high-availability cluster (issue 8): a pg_auto_failover monitor and three
# PostgreSQL nodes, a Redis master with one replica and three Sentinels. Sourced by
# scripts/cluster after scripts/lib/services.sh (which it builds on: packages, the postgres
# user, ports, pid checks).
#
#   ims_cluster_up / ims_cluster_down / ims_cluster_status
#   ims_cluster_any_running         0 if anything of it runs (what ims_cluster_down would stop)
#   ims_cluster_env                 prints the IMS_* settings of a service on the cluster
#   ims_cluster_autoctl ARGS...     pg_autoctl as the postgres user with the cluster's XDG dirs
#   ims_cluster_node_addrs          "host port" of node1..3, one a line
#   ims_cluster_partition N / ims_cluster_heal N...  (namespaces only) cut nodeN off from the
#                                   monitor and the other nodes / undo it
#
# Everything lives under $IMS_DATA_DIR/cluster (or /var/lib/ims/<hash>/cluster when the
# postgres user cannot reach the checkout) and listens on 127.0.0.1 only:
#
#   monitor  IMS_CLUSTER_PG_PORT (15430)      nodes node1..3 on the next three ports
#   Redis    IMS_CLUSTER_REDIS_PORT (23805)   redis-1 (first master) and redis-2 on +1
#   Sentinel IMS_CLUSTER_SENTINEL_PORT (26380) sentinel-1..3 on it and the next two ports
#
# Failure detection is tuned far below pg_auto_failover's defaults (see docs/operations.md
# for the numbers and the trade-off against false failovers).
#
# With IMS_CLUSTER_NETNS=1 (`scripts/cluster up --netns`) the monitor and each node run in a
# network namespace of their own instead, so that a network partition can be made (failure
# test (e), crates/ims/tests/it/ha_partition.rs): a veth pair per namespace joins it to a bridge
# in the root namespace, on the private /24 IMS_CLUSTER_NETNS_NET (10.231.0): the bridge (the
# service's side) .1, the monitor .10, nodeN .1N, on ports of their own (15440-15443, Redis
# 23815-23816, Sentinels 26390-26392). Its data is apart from
# the loopback cluster's ($IMS_DATA_DIR/cluster-netns); Redis and the Sentinels stay on
# 127.0.0.1 (the partition is about PostgreSQL). Names carry the monitor port, so two checkouts
# on their own ports (and subnets) do not meet: namespaces ims-<port>-monitor, ims-<port>-nodeN,
# bridge ims-<port>-br, veths ims-<port>-m and ims-<port>-nN.

IMS_CLUSTER_NETNS="${IMS_CLUSTER_NETNS:-}"
[[ "$IMS_CLUSTER_NETNS" != 0 ]] || IMS_CLUSTER_NETNS=""
IMS_CLUSTER_NETNS_NET="${IMS_CLUSTER_NETNS_NET:-10.231.0}"
# The namespaced cluster has ports of its own (15440, 23815, 26390 unless set), so both can
# run at once: PostgreSQL's Unix sockets (/var/run/postgresql/.s.PGSQL.<port>) and Redis and
# the Sentinels (on 127.0.0.1 in both) share the root namespace. (The failure tests run
# the loopback cluster's tests and then the partition test in one `scripts/test`.)
if [[ -n "$IMS_CLUSTER_NETNS" ]]; then
    IMS_CLUSTER_PG_PORT="${IMS_CLUSTER_PG_PORT:-15440}"
    IMS_CLUSTER_REDIS_PORT="${IMS_CLUSTER_REDIS_PORT:-23815}"
    IMS_CLUSTER_SENTINEL_PORT="${IMS_CLUSTER_SENTINEL_PORT:-26390}"
fi
IMS_CLUSTER_PG_PORT="${IMS_CLUSTER_PG_PORT:-15430}"
# 23805: off the grid scripts/services moves a taken dev/test Redis port along (23790, 23800,
# 23810, ... and 23791, 23801, ...), so the two never meet.
IMS_CLUSTER_REDIS_PORT="${IMS_CLUSTER_REDIS_PORT:-23805}"
IMS_CLUSTER_SENTINEL_PORT="${IMS_CLUSTER_SENTINEL_PORT:-26380}"
# The Sentinel name of the Redis master set; the service's IMS_REDIS_SENTINEL_MASTER.
IMS_CLUSTER_REDIS_MASTER=ims
# Candidate priorities of node1..3: node1 is the preferred primary, node3 the last resort.
_ims_cluster_priorities=(3 2 1)

# Monitor settings (pgautofailover.*, milliseconds). The defaults (5000, 5000, 2, 2000,
# 20000, 30000) take about 50 s to replace a crashed primary.
_ims_cluster_monitor_gucs=(
    "health_check_period=1000"
    "health_check_timeout=1000"
    "health_check_max_retries=1"
    "health_check_retry_delay=500"
    "node_considered_unhealthy_timeout=3000"
    # Must exceed the keepers' network_partition_timeout below: a primary cut off from the
    # monitor and its standbys demotes itself before another node may be promoted.
    "primary_demote_timeout=3000"
    "startup_grace_period=5000"
)
# Keeper settings (pg_autoctl.cfg, seconds). Defaults: 20, 30, 5.
_ims_cluster_keeper_timeouts=(
    "timeout.network_partition_timeout=2"
    "timeout.prepare_promotion_catchup=10"
    "timeout.prepare_promotion_walreceiver=2"
)

# Sentinel settings (milliseconds). Defaults: 30000 and 180000, so a dead master would be
# replaced after half a minute. A master silent for 1 s is down; a failover that does not
# finish in 5 s is retried by another Sentinel after 10 s (twice this). The price of 1 s is a
# failover when the master merely stalls that long (a CPU-starved host): cheap here, since the
# cache is an accelerator the service bypasses while it moves (and purges after it).
_ims_cluster_sentinel_down_after=1000
_ims_cluster_sentinel_failover_timeout=5000

# Replication connections. A primary cut off from the monitor and its standbys keeps their
# walsenders until wal_sender_timeout (pg_auto_failover sets 30 s), and its keeper counts a
# walsender as contact with a standby: it demotes itself network_partition_timeout after
# the last walsender is gone, so about 34 s after the cut with 30 s. Shorter, but not too
# short: the keeper (pg_auto_failover 2.0) starts counting only from a standby it saw after
# it lost the monitor (last_secondary_contact is set nowhere else); if the walsenders are
# already gone at its first check (2-3 s after the cut), it never demotes (seen with 2 s).
# 8 s: the isolated primary stops about 12 s after the cut (docs/operations.md).
# Standbys reply every wal_receiver_status_interval (default 10 s, here 1 s), so the
# timeout runs from a reply at most 1 s before the cut.
_ims_cluster_node_gucs=(
    "wal_sender_timeout=8s"
    "wal_receiver_status_interval=1s"
)


for _v in IMS_CLUSTER_PG_PORT IMS_CLUSTER_REDIS_PORT IMS_CLUSTER_SENTINEL_PORT; do
    if ! [[ "${!_v}" =~ ^[0-9]+$ ]] || ((10#${!_v} < 1 || 10#${!_v} > 65532)); then
        _ims_die "$_v='${!_v}' is not a port number"
    fi
done
# A note for a port set inside this machine's ephemeral range (the defaults lie below it).
for _v in IMS_CLUSTER_PG_PORT IMS_CLUSTER_REDIS_PORT IMS_CLUSTER_SENTINEL_PORT; do
    _ims_port_check_ephemeral "${!_v}" "$_v"
done
unset _v
[[ "$IMS_CLUSTER_NETNS_NET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
    _ims_die "IMS_CLUSTER_NETNS_NET='$IMS_CLUSTER_NETNS_NET' is not the first three parts of an IPv4 address (10.231.0)"

_ims_cluster_base() {
    if [[ -n "$IMS_CLUSTER_NETNS" ]]; then _ims_pg_base cluster-netns; else _ims_pg_base cluster; fi
}
_ims_cluster_pgdata() { printf '%s/%s/pg\n' "$(_ims_cluster_base)" "$1"; } # monitor|nodeN
_ims_cluster_node_port() { printf '%s\n' $((IMS_CLUSTER_PG_PORT + $1)); }  # N (0 = monitor)
_ims_cluster_host() { # N (0 = monitor) -> the address it listens on
    if [[ -n "$IMS_CLUSTER_NETNS" ]]; then
        printf '%s.%s\n' "$IMS_CLUSTER_NETNS_NET" $((10 + $1))
    else
        printf '127.0.0.1\n'
    fi
}
_ims_cluster_name() { if (($1 == 0)); then echo monitor; else echo "node$1"; fi; } # N -> name

# The keepers' monitor URL. The TCP settings: a keeper that is partitioned away in the middle
# of a query to the monitor otherwise waits on that connection for the kernel's retransmission
# timeout (~15 min): it never gets to its network-partition check, so an isolated primary is
# never demoted (seen in test (e)). tcp_user_timeout ends a connection whose data goes
# unacknowledged for 3 s; the keepalives (probes after 2 s idle, 1 s apart, 2 lost) one that
# waits for an answer that does not come.
ims_cluster_monitor_url() {
    printf 'postgres://autoctl_node@%s:%s/pg_auto_failover?sslmode=disable&%s\n' \
        "$(_ims_cluster_host 0)" "$IMS_CLUSTER_PG_PORT" \
        "keepalives_idle=2&keepalives_interval=1&keepalives_count=2&tcp_user_timeout=3000"
}

ims_cluster_node_addrs() {
    local n
    for n in 1 2 3; do printf '%s %s\n' "$(_ims_cluster_host "$n")" "$(_ims_cluster_node_port "$n")"; done
}

# What the failure tests (crates/ims/tests/it/support/cluster.rs) ask of the cluster, through
# `scripts/cluster`: where everything is, and a node killed.

ims_cluster_addrs() { # one line per member: name host port (the monitor first)
    local n
    for n in 0 1 2 3; do
        printf '%s %s %s\n' "$(_ims_cluster_name "$n")" "$(_ims_cluster_host "$n")" \
            "$(_ims_cluster_node_port "$n")"
    done
}

ims_cluster_log() { # N -> the path of nodeN's keeper log
    printf '%s/node%s.log\n' "$(_ims_cluster_base)" "$1"
}

ims_cluster_kill() { # N -> SIGKILL to nodeN's keeper (every pg_autoctl process) and postmaster
    local d run f pid
    [[ "$1" =~ ^[1-3]$ ]] || _ims_die "no node '$1' (1..3)"
    d="$(_ims_cluster_pgdata "node$1")"
    run="$(_ims_cluster_base)/xdg/run/pg_autoctl$d"
    for f in "$run"/pg_autoctl*.pid "$d/postmaster.pid"; do
        [[ -e "$f" ]] || continue
        pid="$(sed -n 1p "$f")"
        if [[ -n "$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    done
}

ims_cluster_switchover() { # blocks until the monitor reports the new primary
    ims_cluster_autoctl perform switchover --pgdata "$(_ims_cluster_pgdata monitor)"
}

# -------------------------------------------------- network namespaces

_ims_netns_tag() { printf 'ims-%s\n' "$IMS_CLUSTER_PG_PORT"; }
_ims_netns_ns() { printf '%s-%s\n' "$(_ims_netns_tag)" "$(_ims_cluster_name "$1")"; } # N
_ims_netns_bridge() { printf '%s-br\n' "$(_ims_netns_tag)"; }
_ims_netns_veth() { # N -> the root side of its veth pair (15 characters at most)
    if (($1 == 0)); then printf '%s-m\n' "$(_ims_netns_tag)"; else printf '%s-n%s\n' "$(_ims_netns_tag)" "$1"; fi
}
_ims_netns_gateway() { printf '%s.1\n' "$IMS_CLUSTER_NETNS_NET"; }

_ims_netns_exists() { [[ -e "/run/netns/$1" ]]; }
_ims_netns_veth_gone() { ! ip link show "$(_ims_netns_veth "$1")" >/dev/null 2>&1; }

# Creates what is missing of the bridge, the namespaces and their links; what exists is
# left alone, so a second `up` (or one after a reboot wiped /run/netns) finds its way.
_ims_netns_up() {
    ((EUID == 0)) || _ims_die "the namespaced cluster needs root (ip netns)"
    command -v ip >/dev/null || _ims_die "ip (iproute2) not found"
    local br gw n ns veth
    br="$(_ims_netns_bridge)"
    gw="$(_ims_netns_gateway)"
    if ! ip link show "$br" >/dev/null 2>&1; then
        # Another interface holding the subnet (someone else's cluster) would make the
        # routes ambiguous: refuse rather than steal its addresses.
        if ip -4 -o addr show | grep -q " $gw/"; then
            _ims_die "$gw is in use on another interface; set IMS_CLUSTER_NETNS_NET"
        fi
        ip link add "$br" type bridge
        ip addr add "$gw/24" dev "$br"
    fi
    ip link set "$br" up
    for n in 0 1 2 3; do
        ns="$(_ims_netns_ns "$n")"
        veth="$(_ims_netns_veth "$n")"
        _ims_netns_exists "$ns" || ip netns add "$ns"
        if ! ip link show "$veth" >/dev/null 2>&1; then
            # A veth left without its peer (namespace removed by hand) is recreated whole.
            ip netns exec "$ns" ip link del eth0 2>/dev/null || true
            ip link add "$veth" type veth peer name eth0 netns "$ns"
        fi
        ip link set "$veth" master "$br" up
        ip netns exec "$ns" ip link set lo up
        ip netns exec "$ns" ip link set eth0 up
        ip netns exec "$ns" ip -4 -o addr show dev eth0 | grep -q " $(_ims_cluster_host "$n")/" ||
            ip netns exec "$ns" ip addr add "$(_ims_cluster_host "$n")/24" dev eth0
    done
}

# Removes the namespaces, their veths (they go with their namespace) and the bridge; only
# once nothing of the cluster runs in them.
_ims_netns_down() {
    local n ns
    for n in 0 1 2 3; do
        ns="$(_ims_netns_ns "$n")"
        _ims_netns_exists "$ns" || continue
        if [[ -n "$(ip netns pids "$ns" 2>/dev/null)" ]]; then
            _ims_die "processes still run in namespace $ns ($(ip netns pids "$ns" | paste -sd' '))"
        fi
        ip netns del "$ns"
        # The namespace (and the veth with it) goes once the kernel is done with it, which can
        # take a moment: an `up` right after must not find half of it.
        _ims_wait _ims_netns_veth_gone "$n" || _ims_die "$(_ims_netns_veth "$n") did not go away"
    done
    ! ip link show "$(_ims_netns_bridge)" >/dev/null 2>&1 || ip link del "$(_ims_netns_bridge)"
    _ims_note "namespaces $(_ims_netns_tag)-* and bridge $(_ims_netns_bridge) removed"
}

_ims_netns_table=ims_partition

# N -> drops, inside nodeN's namespace, everything to and from the cluster's subnet except
# the bridge address: the monitor and the other nodes no longer reach it, nor it them, while
# the service (root namespace, via the bridge) still does. Established connections stall
# (no reset), as in a real partition. nftables, in the node's own namespace only.
ims_cluster_partition() {
    local n="$1" ns gw
    [[ -n "$IMS_CLUSTER_NETNS" ]] || _ims_die "a partition needs the namespaced cluster (IMS_CLUSTER_NETNS=1)"
    [[ "$n" =~ ^[1-3]$ ]] || _ims_die "no node '$n' (1..3)"
    command -v nft >/dev/null || _ims_die "nft not found (apt-get install nftables)"
    ns="$(_ims_netns_ns "$n")"
    gw="$(_ims_netns_gateway)"
    ip netns exec "$ns" nft -f - <<NFT
table inet $_ims_netns_table
delete table inet $_ims_netns_table
table inet $_ims_netns_table {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "eth0" ip saddr != $gw drop
    }
    chain output {
        type filter hook output priority 0; policy accept;
        oifname "eth0" ip daddr != $gw drop
    }
}
NFT
    _ims_note "node$n ($(_ims_cluster_host "$n")) cut off from the monitor and the other nodes; the service ($gw) still reaches it"
}

ims_cluster_heal() { # N... -> removes the partitions of these nodes
    local n ns
    for n in "$@"; do
        ns="$(_ims_netns_ns "$n")"
        _ims_netns_exists "$ns" || continue
        ip netns exec "$ns" nft delete table inet "$_ims_netns_table" 2>/dev/null || true
    done
}

# pg_autoctl refuses to run as root; as the postgres user it keeps its configuration,
# state and pid files under the XDG directories, here the cluster's own.
ims_cluster_autoctl() {
    local xdg
    xdg="$(_ims_cluster_base)/xdg"
    # setsid -w: pg_autoctl signals the running service by the pid in its pid file; while
    # that file is being written a signal can go to pid 0, our own process group. In a
    # session of its own such a stray signal hits only this command.
    _ims_as_pg setsid -w env "XDG_CONFIG_HOME=$xdg/config" "XDG_DATA_HOME=$xdg/data" \
        "XDG_RUNTIME_DIR=$xdg/run" pg_autoctl "$@"
}

_ims_cluster_autoctl_bg() { # N LOG ARGS... -> pg_autoctl of N (0 = monitor) in the background,
    # outliving this script
    local n="$1" log="$2" xdg
    shift 2
    xdg="$(_ims_cluster_base)/xdg"
    # setsid: a session of its own, so the terminal's Ctrl-C or hang-up does not reach it;
    # exec and the redirections: no shell lingers holding this script's output open.
    local -a cmd=(env "XDG_CONFIG_HOME=$xdg/config" "XDG_DATA_HOME=$xdg/data"
        "XDG_RUNTIME_DIR=$xdg/run" pg_autoctl "$@")
    ((EUID != 0)) || cmd=(runuser -u postgres -- "${cmd[@]}")
    # In its namespace: the keeper, PostgreSQL and everything they start see only that
    # namespace's network (its veth and its own loopback). Only the network is separate: pid
    # files, signals and the Unix sockets under the data dir work as on the loopback cluster.
    [[ -z "$IMS_CLUSTER_NETNS" ]] || cmd=(ip netns exec "$(_ims_netns_ns "$n")" "${cmd[@]}")
    (cd / && exec setsid "${cmd[@]}") >>"$log" 2>&1 </dev/null &
}

_ims_cluster_running() { # NAME -> 0 if the pg_autoctl service of NAME (monitor|nodeN) runs
    ims_cluster_autoctl status --pgdata "$(_ims_cluster_pgdata "$1")" >/dev/null 2>&1
}

_ims_cluster_created() { # NAME -> 0 if pg_autoctl has a configuration for NAME
    local pgdata
    pgdata="$(_ims_cluster_pgdata "$1")"
    [[ -f "$(_ims_cluster_base)/xdg/config/pg_autoctl$pgdata/pg_autoctl.cfg" ]]
}

_ims_cluster_psql() { # N DB SQL -> one unaligned value per line (N: 0 = monitor, nodeN)
    PGCONNECT_TIMEOUT=3 "$(_ims_pg_bin_latest)/psql" -X -q -tA -v ON_ERROR_STOP=1 \
        -h "$(_ims_cluster_host "$1")" -p "$(_ims_cluster_node_port "$1")" -U postgres -d "$2" -c "$3"
}

_ims_cluster_monitor_sql() { _ims_cluster_psql 0 pg_auto_failover "$1"; }

_ims_cluster_prepare_dirs() {
    local base
    base="$(_ims_cluster_base)"
    (umask 022 && mkdir -p "$base/xdg/config" "$base/xdg/data" "$base/xdg/run" "$base/monitor" \
        "$base/node1" "$base/node2" "$base/node3")
    chmod 0700 "$base/xdg/run"
    if ((EUID == 0)); then
        chown postgres:postgres "$base/xdg" "$base/xdg/config" "$base/xdg/data" "$base/xdg/run" \
            "$base/monitor" "$base/node1" "$base/node2" "$base/node3"
    fi
}

_ims_cluster_port_taken() { # N -> 0 if something listens where N (0 = monitor) would
    # A fresh namespace has nothing listening: only the loopback cluster can meet another
    # server (of another checkout) on its port.
    [[ -z "$IMS_CLUSTER_NETNS" ]] && _ims_port_open "$(_ims_cluster_node_port "$1")"
}

# N (0 = monitor) -> trusts the private subnet, as initdb's 127.0.0.1 entry does on the
# loopback cluster: the root namespace (the service, psql here; they come from the bridge
# address) as any user, and the nodes among themselves. pg_autoctl's own entries cover
# replication and the --dbname only, and pg_rewind connects to the database postgres: a
# demoted primary could not rewind and fell back to a full pg_basebackup. Added once
# pg_autoctl has written its own entries, so the two do not edit the file at once.
_ims_cluster_node_hba() {
    [[ -n "$IMS_CLUSTER_NETNS" ]] || return 0
    local pgdata line
    pgdata="$(_ims_cluster_pgdata "$(_ims_cluster_name "$1")")"
    line="host all all $IMS_CLUSTER_NETNS_NET.0/24 trust # ims: the cluster's private subnet"
    grep -q 'Auto-generated by pg_auto_failover' "$pgdata/pg_hba.conf" 2>/dev/null || return 1
    grep -qxF "$line" "$pgdata/pg_hba.conf" && return 0
    printf '%s\n' "$line" >>"$pgdata/pg_hba.conf"
    _ims_as_pg "$(_ims_pg_bin_latest)/pg_ctl" reload -s -D "$pgdata" >/dev/null 2>&1 || true
}

_ims_cluster_monitor_ready() {
    _ims_cluster_node_hba 0 && _ims_cluster_monitor_sql "select 1 from pgautofailover.formation"
}

_ims_cluster_start_monitor() {
    local base pgdata bin host
    base="$(_ims_cluster_base)"
    pgdata="$(_ims_cluster_pgdata monitor)"
    bin="$(_ims_pg_bin_latest)"
    host="$(_ims_cluster_host 0)"
    if ! _ims_cluster_running monitor; then
        if _ims_cluster_created monitor; then
            _ims_cluster_autoctl_bg 0 "$base/monitor.log" run --pgdata "$pgdata"
        else
            _ims_cluster_port_taken 0 &&
                _ims_die "port $IMS_CLUSTER_PG_PORT is taken; set IMS_CLUSTER_PG_PORT"
            _ims_note "creating the pg_auto_failover monitor in $pgdata"
            _ims_cluster_autoctl_bg 0 "$base/monitor.log" create monitor --pgdata "$pgdata" \
                --pgport "$IMS_CLUSTER_PG_PORT" --hostname "$host" --listen "$host" \
                --auth trust --no-ssl --pgctl "$bin/pg_ctl" --run
        fi
    fi
    IMS_START_TIMEOUT=60 _ims_wait _ims_cluster_monitor_ready ||
        _ims_die "the monitor does not answer on port $IMS_CLUSTER_PG_PORT; see $base/monitor.log"
    local guc changed=""
    for guc in "${_ims_cluster_monitor_gucs[@]}"; do
        if [[ "$(_ims_cluster_monitor_sql "show pgautofailover.${guc%%=*}")" != "${guc#*=}"* ]]; then
            _ims_cluster_monitor_sql "alter system set pgautofailover.${guc%%=*} = ${guc#*=}" >/dev/null
            changed=1
        fi
    done
    [[ -z "$changed" ]] || _ims_cluster_monitor_sql "select pg_reload_conf()" >/dev/null
    _ims_note "pg_auto_failover monitor on $host:$IMS_CLUSTER_PG_PORT"
}

_ims_cluster_node_state() { # N -> "reported/goal" state of nodeN on the monitor, or nothing
    _ims_cluster_monitor_sql "select reportedstate || '/' || goalstate from pgautofailover.node
        where nodename = 'node$1'" 2>/dev/null
}

_ims_cluster_node_settled() { # N -> 0 once nodeN is a primary or a secondary, reported and goal
    case "$(_ims_cluster_node_state "$1")" in
        single/single | primary/primary | secondary/secondary | wait_primary/wait_primary) return 0 ;;
        *) return 1 ;;
    esac
}

_ims_cluster_start_node() { # N -> starts nodeN's keeper (creating the node) unless it runs
    local n="$1" base pgdata port bin host
    base="$(_ims_cluster_base)"
    pgdata="$(_ims_cluster_pgdata "node$n")"
    port="$(_ims_cluster_node_port "$n")"
    bin="$(_ims_pg_bin_latest)"
    host="$(_ims_cluster_host "$n")"
    if ! _ims_cluster_running "node$n"; then
        if _ims_cluster_created "node$n"; then
            _ims_cluster_autoctl_bg "$n" "$base/node$n.log" run --pgdata "$pgdata"
        else
            _ims_cluster_port_taken "$n" && _ims_die "port $port is taken (node$n); set IMS_CLUSTER_PG_PORT"
            _ims_note "creating PostgreSQL node$n ($host:$port, candidate priority ${_ims_cluster_priorities[n - 1]})"
            _ims_cluster_autoctl_bg "$n" "$base/node$n.log" create postgres --pgdata "$pgdata" \
                --pgport "$port" --hostname "$host" --listen "$host" --name "node$n" \
                --dbname ims --monitor "$(ims_cluster_monitor_url)" --auth trust --no-ssl \
                --pgctl "$bin/pg_ctl" --candidate-priority "${_ims_cluster_priorities[n - 1]}" \
                --replication-quorum true --run
        fi
        # Until its pid file exists it does not count as running: a second call must not
        # start another.
        _ims_wait _ims_cluster_running "node$n" || true
    fi
}

# The keeper rewrites pg_autoctl.cfg in place now and then (not by rename): a `config get` or
# `config set` that reads it meanwhile finds it empty ("Failed to find section pg_autoctl",
# seen while a standby was being created). Both are retried for a few seconds.
_ims_cluster_config_get() { # PGDATA KEY -> the value, or nothing
    local try value
    for ((try = 0; try < 5; try++)); do
        if value="$(ims_cluster_autoctl config get --pgdata "$1" "$2" 2>/dev/null)"; then
            printf '%s\n' "$value"
            return 0
        fi
        sleep 1
    done
}

_ims_cluster_config_set() { # PGDATA KEY VALUE
    local try
    for ((try = 0; try < 5; try++)); do
        ims_cluster_autoctl config set --pgdata "$1" "$2" "$3" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

_ims_cluster_settle_node() { # N -> applies the keeper timeouts, waits for primary/secondary
    local n="$1" base pgdata port kv
    base="$(_ims_cluster_base)"
    pgdata="$(_ims_cluster_pgdata "node$n")"
    port="$(_ims_cluster_node_port "$n")"
    _ims_cluster_start_node "$n"
    # A standby's first start copies the primary (pg_basebackup): give it time.
    IMS_START_TIMEOUT=120 _ims_wait _ims_cluster_created "node$n" ||
        _ims_die "node$n was not created; see $base/node$n.log"
    IMS_START_TIMEOUT=180 _ims_wait _ims_cluster_node_settled "$n" ||
        _ims_die "node$n did not become primary or secondary (state: $(_ims_cluster_node_state "$n")); see $base/node$n.log"
    # The settings once the node is settled: a reload while `pg_autoctl create` still runs
    # (its pid file exists) interrupted it with SIGHUP, and the restarted keeper, with its
    # group not yet written, failed over and over ("group -1").
    local changed=""
    # The monitor URL too: a node created before the URL had its TCP settings gets them (a
    # reload makes the keeper reconnect with it).
    for kv in "${_ims_cluster_keeper_timeouts[@]}" "pg_autoctl.monitor=$(ims_cluster_monitor_url)"; do
        if [[ "$(_ims_cluster_config_get "$pgdata" "${kv%%=*}")" != "${kv#*=}" ]]; then
            _ims_cluster_config_set "$pgdata" "${kv%%=*}" "${kv#*=}" ||
                _ims_die "node$n: pg_autoctl config set ${kv%%=*} failed; see $base/node$n.log"
            changed=1
        fi
    done
    if [[ -n "$changed" ]] && _ims_cluster_running "node$n"; then
        ims_cluster_autoctl reload --pgdata "$pgdata" >/dev/null 2>&1 || true
    fi
    _ims_cluster_node_hba "$n" || _ims_die "node$n has no pg_hba.conf in $pgdata"
    _ims_cluster_node_gucs_apply "$n"
    _ims_cluster_archive_node "$n"
    _ims_note "PostgreSQL node$n on $(_ims_cluster_host "$n"):$port: $(_ims_cluster_node_state "$n")"
}

# ------------------------------------------------- WAL archiving (backups)

# Nodes whose archive_mode waits for a restart that must not happen in place: primaries with
# standbys (see _ims_cluster_archive_restarts).
_ims_cluster_restart_later=()

# N -> nodeN archives its WAL into the cluster's pgBackRest repository whenever it is the
# primary (scripts/lib/backup.sh; docs/operations.md "Backups and point-in-time restore"):
# every node gets the same settings (ALTER SYSTEM, which a cloned node copies), so whichever
# is promoted archives. The loopback cluster only: the namespaced one is for partition tests.
# archive_mode takes a restart, needed once per node (a node cloned from one already set
# starts with it): a standby or a primary without standbys (a new cluster's node1, before
# node2 exists) is restarted at once; a primary with standbys waits for a switchover.
_ims_cluster_archive_node() {
    [[ -z "$IMS_CLUSTER_NETNS" ]] || return 0
    local n="$1" rc=0
    ims_backup_archive_apply cluster "$(_ims_cluster_host "$n")" "$(_ims_cluster_node_port "$n")" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 3)) || _ims_die "node$n: the archive settings could not be applied"
    case "$(_ims_cluster_node_state "$n")" in
        single/single | secondary/secondary) _ims_cluster_restart_node "$n" ;;
        *) _ims_cluster_restart_later+=("$n") ;;
    esac
}

_ims_cluster_restart_node() { # N -> stops and starts nodeN's keeper (and so its PostgreSQL)
    _ims_note "node$1: restarting PostgreSQL for archive_mode"
    _ims_cluster_stop_autoctl "node$1"
    _ims_cluster_start_node "$1"
    IMS_START_TIMEOUT=180 _ims_wait _ims_cluster_node_settled "$1" ||
        _ims_die "node$1 did not come back after its restart (state: $(_ims_cluster_node_state "$1")); see $(_ims_cluster_base)/node$1.log"
}

_ims_cluster_node_is_secondary() { [[ "$(_ims_cluster_node_state "$1")" == secondary/secondary ]]; }

# The primaries left by _ims_cluster_archive_node: a planned switchover (no write fails, as
# failure test (b) shows) makes each a standby, which is then restarted.
_ims_cluster_archive_restarts() {
    local n
    for n in "${_ims_cluster_restart_later[@]}"; do
        if ! _ims_cluster_node_is_secondary "$n"; then
            _ims_note "node$n: switching over, so that the primary can restart for archive_mode"
            ims_cluster_autoctl perform switchover --pgdata "$(_ims_cluster_pgdata monitor)" >&2 ||
                _ims_die "the switchover away from node$n failed"
            IMS_START_TIMEOUT=120 _ims_wait _ims_cluster_node_is_secondary "$n" ||
                _ims_die "node$n did not become a standby after the switchover"
        fi
        _ims_cluster_restart_node "$n"
    done
    _ims_cluster_restart_later=()
}

# N -> the replication timeouts above, by ALTER SYSTEM (postgresql.auto.conf outranks the
# file pg_autoctl rewrites; it is allowed on a standby too, and a node cloned later copies it).
_ims_cluster_node_gucs_apply() {
    local n="$1" guc changed=""
    for guc in "${_ims_cluster_node_gucs[@]}"; do
        if [[ "$(_ims_cluster_psql "$n" postgres "show ${guc%%=*}")" != "${guc#*=}" ]]; then
            _ims_cluster_psql "$n" postgres "alter system set ${guc%%=*} = '${guc#*=}'" >/dev/null
            changed=1
        fi
    done
    [[ -z "$changed" ]] || _ims_cluster_psql "$n" postgres "select pg_reload_conf()" >/dev/null
}

_ims_cluster_quorum() {
    # A majority commit (MongoDB's w: majority): a commit waits for one standby (of the two)
    # to have it, so two of the three nodes hold every acknowledged write.
    if [[ "$(_ims_cluster_monitor_sql "select number_sync_standbys from pgautofailover.formation
            where formationid = 'default'")" != 1 ]]; then
        _ims_cluster_monitor_sql "select pgautofailover.set_formation_number_sync_standbys('default', 1)" >/dev/null
    fi
}

# -------------------------------------------------------------- redis

_ims_cluster_redis_dir() { printf '%s/%s\n' "$(_ims_cluster_base)" "$1"; } # redis-N|sentinel-N

_ims_cluster_pid_of() { # DIR COMM -> pid of the live COMM whose pid file is DIR/redis.pid
    local pid
    [[ -f "$1/redis.pid" ]] || return 1
    pid="$(cat "$1/redis.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] && _ims_pid_alive "$pid" "$2" && printf '%s\n' "$pid"
}

_ims_cluster_sentinel_master() { # -> "host port" of the master as the Sentinels know it
    local i reply
    for ((i = 0; i < 3; i++)); do
        reply="$(redis-cli -h 127.0.0.1 -p $((IMS_CLUSTER_SENTINEL_PORT + i)) \
            sentinel get-master-addr-by-name "$IMS_CLUSTER_REDIS_MASTER" 2>/dev/null | paste -sd' ')"
        if [[ "$reply" =~ ^[0-9.]+\ [0-9]+$ ]]; then
            printf '%s\n' "$reply"
            return 0
        fi
    done
    return 1
}

_ims_cluster_start_redis() { # N MASTER_PORT
    local n="$1" master_port="$2" dir port
    dir="$(_ims_cluster_redis_dir "redis-$n")"
    port=$((IMS_CLUSTER_REDIS_PORT + n - 1))
    _ims_cluster_pid_of "$dir" redis-server >/dev/null && return 0
    _ims_port_open "$port" && _ims_die "port $port is taken (redis-$n); set IMS_CLUSTER_REDIS_PORT"
    (umask 022 && mkdir -p "$dir")
    local -a role=()
    # Sentinel turns a returning old master into a replica too; starting it as one avoids a
    # moment with two masters.
    [[ "$port" == "$master_port" ]] || role=(--replicaof 127.0.0.1 "$master_port")
    # Its own file including the deployed one: in a failover Sentinel makes each server
    # CONFIG REWRITE its file, which must not be the repository's deploy/redis/redis.conf.
    printf 'include %s\n' "$IMS_REPO_ROOT/deploy/redis/redis.conf" >"$dir/redis.conf"
    redis-server "$dir/redis.conf" --port "$port" --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --daemonize yes "${role[@]}" ||
        _ims_die "redis-$n failed to start; log: $dir/redis.log"
    _ims_wait _ims_redis_ping "$port" || _ims_die "redis-$n does not answer on $port; log: $dir/redis.log"
}

_ims_cluster_start_sentinel() { # N (0..2)
    local n="$1" dir port
    dir="$(_ims_cluster_redis_dir "sentinel-$((n + 1))")"
    port=$((IMS_CLUSTER_SENTINEL_PORT + n))
    _ims_cluster_pid_of "$dir" redis-sentinel >/dev/null && return 0
    _ims_port_open "$port" && _ims_die "port $port is taken (sentinel-$((n + 1))); set IMS_CLUSTER_SENTINEL_PORT"
    (umask 022 && mkdir -p "$dir")
    # Sentinel rewrites its file with what it learns (master, replicas, peers, epoch), so it
    # is written once and kept: a restarted Sentinel remembers a failover.
    if [[ ! -f "$dir/sentinel.conf" ]]; then
        cat >"$dir/sentinel.conf" <<CONF
bind 127.0.0.1
port $port
dir $dir
sentinel monitor $IMS_CLUSTER_REDIS_MASTER 127.0.0.1 $IMS_CLUSTER_REDIS_PORT 2
sentinel down-after-milliseconds $IMS_CLUSTER_REDIS_MASTER $_ims_cluster_sentinel_down_after
sentinel failover-timeout $IMS_CLUSTER_REDIS_MASTER $_ims_cluster_sentinel_failover_timeout
sentinel parallel-syncs $IMS_CLUSTER_REDIS_MASTER 1
CONF
    fi
    redis-sentinel "$dir/sentinel.conf" --pidfile "$dir/redis.pid" --logfile "$dir/sentinel.log" \
        --daemonize yes || _ims_die "sentinel-$((n + 1)) failed to start; log: $dir/sentinel.log"
    _ims_wait _ims_redis_ping "$port" || _ims_die "sentinel-$((n + 1)) does not answer on $port"
    # A kept file may hold older timings: the ones above win.
    redis-cli -h 127.0.0.1 -p "$port" sentinel set "$IMS_CLUSTER_REDIS_MASTER" \
        down-after-milliseconds "$_ims_cluster_sentinel_down_after" \
        failover-timeout "$_ims_cluster_sentinel_failover_timeout" >/dev/null ||
        _ims_die "sentinel-$((n + 1)) refused its timings"
}

_ims_cluster_redis_up() {
    local i master master_port
    for ((i = 0; i < 3; i++)); do _ims_cluster_start_sentinel "$i"; done
    master="$(_ims_cluster_sentinel_master)" || master="127.0.0.1 $IMS_CLUSTER_REDIS_PORT"
    master_port="${master#* }"
    # The master first, so the replica's first sync finds it.
    for i in 1 2; do
        ((IMS_CLUSTER_REDIS_PORT + i - 1 == master_port)) && _ims_cluster_start_redis "$i" "$master_port"
    done
    for i in 1 2; do _ims_cluster_start_redis "$i" "$master_port"; done
    _ims_note "Redis master 127.0.0.1:$master_port, Sentinels on $IMS_CLUSTER_SENTINEL_PORT-$((IMS_CLUSTER_SENTINEL_PORT + 2))"
}

# ----------------------------------------------------------- commands

ims_cluster_up() {
    local n
    # While nodes start, a SIGHUP has been seen to reach this script's process group (not
    # traced to its sender; pg_autoctl signals its services by pid file). Ignored here and in
    # what this starts: pg_autoctl and PostgreSQL install their own SIGHUP handlers (reload),
    # which replace an inherited ignore; Redis ignores SIGHUP anyway.
    trap '' HUP
    [[ -z "$IMS_CLUSTER_NETNS" ]] || _ims_netns_up
    _ims_cluster_prepare_dirs
    # Before the nodes start: their archive_command runs pgBackRest with this file.
    [[ -n "$IMS_CLUSTER_NETNS" ]] || ims_backup_write_conf cluster
    _ims_cluster_start_monitor
    # Existing nodes start together: a former standby started alone is asked to take part in
    # an election (report_lsn) that needs the others. New nodes are created one at a time:
    # node1 becomes the primary, the others clone it.
    for n in 1 2 3; do
        ! _ims_cluster_created "node$n" || _ims_cluster_start_node "$n"
    done
    for n in 1 2 3; do _ims_cluster_settle_node "$n"; done
    _ims_cluster_quorum
    if [[ -z "$IMS_CLUSTER_NETNS" ]]; then
        _ims_cluster_archive_restarts
        # The repository's stanza, once the nodes are there (idempotent). The cluster runs
        # even when the repository cannot be reached: WAL waits in pg_wal meanwhile.
        ims_backup_stanza_create cluster ||
            _ims_note "warning: pgbackrest stanza-create failed, WAL is not archived yet; see $(ims_backup_dir cluster)/log"
    fi
    _ims_cluster_redis_up
}

_ims_cluster_stop_autoctl() { # NAME
    local pgdata pidfile pid=""
    _ims_cluster_running "$1" || return 0
    pgdata="$(_ims_cluster_pgdata "$1")"
    pidfile="$(_ims_cluster_base)/xdg/run/pg_autoctl$pgdata/pg_autoctl.pid"
    [[ -f "$pidfile" ]] && pid="$(sed -n 1p "$pidfile")"
    ims_cluster_autoctl stop --pgdata "$pgdata" >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 60))
    # `pg_autoctl status` says "not running" while the supervisor still stops its services
    # and holds its pid file; a `run` started then fails. Wait for the process itself.
    while _ims_cluster_running "$1" || { [[ "$pid" =~ ^[0-9]+$ ]] && _ims_pid_alive "$pid" pg_autoctl; }; do
        ((SECONDS < deadline)) || _ims_die "pg_autoctl ($1) did not stop"
        sleep 0.5
    done
    _ims_note "$1 stopped"
}

ims_cluster_down() {
    local name dir pid comm
    for name in sentinel-1 sentinel-2 sentinel-3 redis-1 redis-2; do
        dir="$(_ims_cluster_redis_dir "$name")"
        for comm in redis-server redis-sentinel; do
            if pid="$(_ims_cluster_pid_of "$dir" "$comm")"; then
                kill -TERM "$pid"
                _ims_wait _ims_cluster_pid_gone_as "$pid" "$comm" || _ims_die "$name (pid $pid) did not stop"
                _ims_note "$name stopped"
            fi
        done
    done
    # Standbys before the primary, the monitor last, so nobody fails over on the way down.
    local primary
    primary="$(_ims_cluster_monitor_sql "select nodename from pgautofailover.node
        where reportedstate in ('primary', 'wait_primary', 'single')" 2>/dev/null | head -n 1)" || true
    for name in node3 node2 node1; do
        [[ "$name" == "$primary" ]] || _ims_cluster_stop_autoctl "$name"
    done
    [[ -z "$primary" ]] || _ims_cluster_stop_autoctl "$primary"
    _ims_cluster_stop_autoctl monitor
    if [[ -n "$IMS_CLUSTER_NETNS" ]]; then
        ims_cluster_heal 1 2 3
        _ims_netns_down
    fi
}

_ims_cluster_pid_gone_as() { ! _ims_pid_alive "$1" "$2"; }

# -> 0 if any part of the cluster runs (a keeper, Redis, a Sentinel) or, for the namespaced
# one, its namespaces exist: what `ims_cluster_down` would stop. Prints nothing.
ims_cluster_any_running() {
    local name
    for name in monitor node1 node2 node3; do
        _ims_cluster_running "$name" && return 0
    done
    for name in redis-1 redis-2; do
        _ims_cluster_pid_of "$(_ims_cluster_redis_dir "$name")" redis-server >/dev/null && return 0
    done
    for name in sentinel-1 sentinel-2 sentinel-3; do
        _ims_cluster_pid_of "$(_ims_cluster_redis_dir "$name")" redis-sentinel >/dev/null && return 0
    done
    [[ -n "$IMS_CLUSTER_NETNS" ]] && _ims_netns_exists "$(_ims_netns_ns 0)"
}

ims_cluster_status() { # prints the state; returns 1 if something is down
    local rc=0 n name dir port role pid
    if _ims_cluster_running monitor; then
        echo "monitor:  running on $(_ims_cluster_host 0):$IMS_CLUSTER_PG_PORT, data $(_ims_cluster_pgdata monitor)"
        ims_cluster_autoctl show state --pgdata "$(_ims_cluster_pgdata monitor)" 2>/dev/null || rc=1
        echo "number_sync_standbys: $(_ims_cluster_monitor_sql "select number_sync_standbys from
            pgautofailover.formation where formationid = 'default'" 2>/dev/null || echo '?')"
    else
        echo "monitor:  stopped ($(_ims_cluster_host 0):$IMS_CLUSTER_PG_PORT)"
        rc=1
    fi
    for n in 1 2 3; do
        if _ims_cluster_running "node$n"; then
            echo "node$n:    pg_autoctl running, $(_ims_cluster_host "$n"):$(_ims_cluster_node_port "$n")"
        else
            echo "node$n:    stopped ($(_ims_cluster_host "$n"):$(_ims_cluster_node_port "$n"))"
            rc=1
        fi
        if [[ -n "$IMS_CLUSTER_NETNS" ]] && _ims_netns_exists "$(_ims_netns_ns "$n")" &&
            ip netns exec "$(_ims_netns_ns "$n")" nft list table inet "$_ims_netns_table" >/dev/null 2>&1; then
            echo "node$n:    PARTITIONED (scripts/cluster heal --netns)"
        fi
    done
    for n in 1 2; do
        name="redis-$n"
        dir="$(_ims_cluster_redis_dir "$name")"
        port=$((IMS_CLUSTER_REDIS_PORT + n - 1))
        if pid="$(_ims_cluster_pid_of "$dir" redis-server)"; then
            role="$(redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -n 1)"
            echo "$name:  ${role:-not answering} on 127.0.0.1:$port, pid $pid"
        else
            echo "$name:  stopped (port $port)"
            rc=1
        fi
    done
    for n in 0 1 2; do
        name="sentinel-$((n + 1))"
        port=$((IMS_CLUSTER_SENTINEL_PORT + n))
        if pid="$(_ims_cluster_pid_of "$(_ims_cluster_redis_dir "$name")" redis-sentinel)"; then
            echo "$name: running on 127.0.0.1:$port, pid $pid"
        else
            echo "$name: stopped (port $port)"
            rc=1
        fi
    done
    local master
    if master="$(_ims_cluster_sentinel_master)"; then
        echo "sentinels: master '$IMS_CLUSTER_REDIS_MASTER' is ${master/ /:}"
    else
        echo "sentinels: no master known"
        rc=1
    fi
    return "$rc"
}

# The settings of an `ims serve` on the cluster, as shell assignments: every node in both
# URLs (the primary pool follows the primary, the read pool the freshest standby) and the
# three Sentinels, through which the cache follows the Redis master.
ims_cluster_env() {
    local hosts="" sentinels="" n
    for n in 1 2 3; do hosts+="${hosts:+,}$(_ims_cluster_host "$n"):$(_ims_cluster_node_port "$n")"; done
    for n in 0 1 2; do sentinels+="${sentinels:+,}127.0.0.1:$((IMS_CLUSTER_SENTINEL_PORT + n))"; done
    printf "IMS_DATABASE_URL='postgres://postgres@%s/ims?target_session_attrs=read-write'\n" "$hosts"
    printf "IMS_DATABASE_READ_URL='postgres://postgres@%s/ims?target_session_attrs=prefer-standby'\n" "$hosts"
    printf "IMS_REDIS_SENTINELS='%s'\n" "$sentinels"
    printf "IMS_REDIS_SENTINEL_MASTER='%s'\n" "$IMS_CLUSTER_REDIS_MASTER"
    # Each node allows PostgreSQL's default 100 connections; two pools of 100 would exhaust it.
    printf "IMS_DB_POOL_MAX=40\n"
}
