# shellcheck shell=bash
# Rolling restarts of the local high-availability cluster (issue 18, docs/operations.md
# "Rolling restart of the cluster"). Sourced by scripts/cluster after scripts/lib/cluster.sh,
# whose functions start and stop the nodes (pg_autoctl under its own supervision, Redis and the
# Sentinels from their pid files); nothing here starts a process another way.
#
#   ims_cluster_roll [NAME=VALUE...]  every PostgreSQL node restarted: the standbys one at a
#                                     time, each back in sync before the next, then a
#                                     switchover to a restarted standby, then the old primary.
#                                     Each NAME=VALUE is set on every node (ALTER SYSTEM) first,
#                                     so the restarts apply it.
#   ims_cluster_roll_redis            the Sentinels one at a time, the replica, a Sentinel
#                                     failover to it, then the old master as a replica.
#
# Both refuse to start unless the cluster is whole and in sync within IMS_START_TIMEOUT (30 s;
# a roll takes one member away at a time and counts on the others), and stop at the first step that does not come back
# within IMS_ROLL_TIMEOUT seconds (180), leaving the rest untouched.

IMS_ROLL_TIMEOUT="${IMS_ROLL_TIMEOUT:-180}"
[[ "$IMS_ROLL_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || _ims_die "IMS_ROLL_TIMEOUT='$IMS_ROLL_TIMEOUT' is not a number of seconds"

# ---------------------------------------------------------- PostgreSQL

_ims_roll_states() { # -> "nodeN reported/goal" of every node, on one line
    _ims_cluster_monitor_sql "select string_agg(nodename || ' ' || reportedstate || '/' || goalstate,
        ', ' order by nodename) from pgautofailover.node" 2>/dev/null || echo "monitor not answering"
}

_ims_roll_primary() { # -> N of the node the monitor has as primary, reported and assigned
    local name
    name="$(_ims_cluster_monitor_sql "select nodename from pgautofailover.node
        where reportedstate = 'primary' and goalstate = 'primary'" 2>/dev/null)"
    [[ "$name" =~ ^node[1-3]$ ]] || return 1
    printf '%s\n' "${name#node}"
}

# -> 0 when the monitor has one primary and two secondaries, every node settled and healthy,
# and the primary itself streams to two standbys in its synchronous quorum. (The monitor's view
# alone lags: a standby stopped a moment ago is still a healthy secondary there for a second
# or two, while its walsender on the primary is gone at once.)
_ims_roll_cluster_whole() {
    local p
    [[ "$(_ims_cluster_monitor_sql "select
            count(*) filter (where reportedstate = 'primary' and goalstate = 'primary' and health = 1)
            || ' ' ||
            count(*) filter (where reportedstate = 'secondary' and goalstate = 'secondary' and health = 1)
        from pgautofailover.node" 2>/dev/null)" == "1 2" ]] || return 1
    p="$(_ims_roll_primary)" || return 1
    [[ "$(_ims_cluster_psql "$p" postgres "select count(*) from pg_stat_replication
        where state = 'streaming' and sync_state in ('sync', 'quorum')" 2>/dev/null)" == 2 ]]
}

# N P LSN -> 0 when nodeN is a secondary (reported and assigned) that primary P streams to,
# counts for its synchronous quorum, and that has replayed up to LSN (the primary's position
# once N was back: caught up, not merely connected).
_ims_roll_in_sync() {
    local n="$1" p="$2" lsn="$3" id
    [[ "$(_ims_cluster_node_state "$n")" == secondary/secondary ]] || return 1
    id="$(_ims_cluster_monitor_sql "select nodeid from pgautofailover.node where nodename = 'node$n'")"
    [[ "$id" =~ ^[0-9]+$ ]] || return 1
    [[ "$(_ims_cluster_psql "$p" postgres "select count(*) from pg_stat_replication
        where application_name = 'pgautofailover_standby_$id' and state = 'streaming'
          and sync_state in ('sync', 'quorum') and replay_lsn >= '$lsn'::pg_lsn")" == 1 ]]
}

# N NAME -> sets _ims_roll_shown to the setting's value on nodeN, with " PENDING RESTART" when
# it waits for one; fails while nodeN does not answer. Retried by the caller: a keeper may
# restart its PostgreSQL once more as the cluster settles (a CI run read "the database system
# is shutting down" here, with the roll itself done and no request failed).
_ims_roll_read_setting() {
    _ims_roll_shown="$(_ims_cluster_psql "$1" postgres "select current_setting(name) ||
        case when pending_restart then ' PENDING RESTART' else '' end
        from pg_settings where name = '$2'")" && [[ -n "$_ims_roll_shown" ]]
}

_ims_roll_started_at() { # N -> when nodeN's postmaster started
    _ims_cluster_psql "$1" postgres "select pg_postmaster_start_time()" 2>/dev/null
}

_ims_roll_log_tail() { # N -> the end of nodeN's keeper log, on stderr
    local log
    log="$(_ims_cluster_base)/node$1.log"
    printf 'ims: the last lines of %s:\n' "$log" >&2
    tail -n 25 "$log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# N -> starts nodeN's keeper and waits until its PostgreSQL answers; prints when it started.
# A keeper that is not running once _ims_cluster_start_node has waited for it has exited
# (a CI run under heavy load waited out the whole timeout for one that never came up): its
# log's end is shown and it is started again, twice at most.
_ims_roll_start_node() {
    local n="$1" starts=1 deadline=$((SECONDS + IMS_ROLL_TIMEOUT)) started
    _ims_cluster_start_node "$n"
    until started="$(_ims_roll_started_at "$n")"; do
        if ((SECONDS >= deadline)); then
            _ims_roll_log_tail "$n"
            _ims_die "node$n does not answer ${IMS_ROLL_TIMEOUT}s after its restart ($(_ims_roll_states)); the roll stops here"
        fi
        if ! _ims_cluster_running "node$n"; then
            _ims_roll_log_tail "$n"
            ((starts < 3)) || _ims_die "node$n's keeper exited after each of 3 starts; the roll stops here"
            _ims_note "node$n: its keeper is not running (its log above); starting it again"
            _ims_cluster_start_node "$n"
            starts=$((starts + 1))
        fi
        sleep 0.5
    done
    printf '%s\n' "$started"
}

# N P -> stops standby nodeN (its keeper and PostgreSQL, as `scripts/cluster down` does),
# starts it again and waits until it is back in sync with primary P.
_ims_roll_restart_standby() {
    local n="$1" p="$2" before after lsn started=$SECONDS
    # Under load a query can time out; that must not end the roll unannounced (set -e).
    before="$(_ims_roll_started_at "$n")" || before="(not answering)"
    _ims_note "node$n: restarting ($(_ims_cluster_node_state "$n" || true), primary node$p)"
    _ims_cluster_stop_autoctl "node$n"
    after="$(_ims_roll_start_node "$n")" || exit 1
    [[ "$after" != "$before" ]] || _ims_die "node$n: PostgreSQL was not restarted (started $before)"
    lsn="$(_ims_cluster_psql "$p" postgres "select pg_current_wal_lsn()")" ||
        _ims_die "the primary node$p does not answer"
    IMS_START_TIMEOUT="$IMS_ROLL_TIMEOUT" _ims_wait _ims_roll_in_sync "$n" "$p" "$lsn" ||
        _ims_die "node$n is not back in sync after ${IMS_ROLL_TIMEOUT}s ($(_ims_roll_states)); the roll stops here"
    _ims_note "node$n: back in sync as a synchronous standby of node$p, $((SECONDS - started)) s"
}

# N NAME VALUE -> ALTER SYSTEM SET NAME = VALUE on nodeN (written to postgresql.auto.conf,
# which outranks the file pg_autoctl rewrites; allowed on a standby). The value goes through
# a psql variable, quoted by psql; the name was checked against a strict pattern.
_ims_roll_set() {
    printf '%s\n' "alter system set $2 = :'value'" |
        PGCONNECT_TIMEOUT=3 "$(_ims_pg_bin_latest)/psql" -X -q -tA -v ON_ERROR_STOP=1 \
            -v value="$3" -h "$(_ims_cluster_host "$1")" -p "$(_ims_cluster_node_port "$1")" \
            -U postgres -d postgres
}

# N NAME -> what nodeN's postgresql.auto.conf holds for NAME: "set VALUE", or "none".
_ims_roll_auto_conf() {
    _ims_cluster_psql "$1" postgres "select coalesce((select 'set ' || setting
        from pg_file_settings where name = '$2' and sourcefile like '%/postgresql.auto.conf'
        order by seqno desc limit 1), 'none')"
}

# P -> sets names[i]=values[i] (the caller's arrays) on every node, the primary P first:
# PostgreSQL checks each name and value there. If any node refuses one (or does not answer),
# every setting made so far is put back as it was, so a failed roll changes nothing.
_ims_roll_apply_settings() {
    local p="$1" n i k was
    local -a order=("$p") done_nodes=() done_names=() done_previous=()
    for n in 1 2 3; do ((n == p)) || order+=("$n"); done
    for n in "${order[@]}"; do
        for ((i = 0; i < ${#names[@]}; i++)); do
            if was="$(_ims_roll_auto_conf "$n" "${names[i]}")" &&
                _ims_roll_set "$n" "${names[i]}" "${values[i]}" >/dev/null; then
                done_nodes+=("$n")
                done_names+=("${names[i]}")
                done_previous+=("$was")
                continue
            fi
            for ((k = ${#done_nodes[@]} - 1; k >= 0; k--)); do
                if [[ "${done_previous[k]}" == none ]]; then
                    _ims_cluster_psql "${done_nodes[k]}" postgres "alter system reset ${done_names[k]}" >/dev/null || true
                else
                    _ims_roll_set "${done_nodes[k]}" "${done_names[k]}" "${done_previous[k]#set }" >/dev/null || true
                fi
            done
            _ims_die "node$n refused ${names[i]}=${values[i]}; nothing was changed or restarted"
        done
    done
    for ((i = 0; i < ${#names[@]}; i++)); do
        _ims_note "${names[i]} = '${values[i]}' set on every node (postgresql.auto.conf), applied by the restarts"
    done
}

ims_cluster_roll() { # [NAME=VALUE...]
    local kv n p new i out started=$SECONDS
    local -a names=() values=()
    for kv in "$@"; do
        [[ "$kv" =~ ^([a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?)=(.*)$ ]] ||
            _ims_die "'$kv' is not NAME=VALUE with a PostgreSQL setting's name (e.g. -c max_connections=150)"
        names+=("${BASH_REMATCH[1]}")
        values+=("${BASH_REMATCH[3]}")
    done
    _ims_cluster_running monitor || _ims_die "the cluster's monitor is not running (scripts/cluster up)"
    # A node just started (`scripts/cluster up`) may still be catching up: a little patience.
    _ims_wait _ims_roll_cluster_whole ||
        _ims_die "a roll needs a primary and two secondaries in sync; now: $(_ims_roll_states)"
    p="$(_ims_roll_primary)" || _ims_die "the monitor names no primary: $(_ims_roll_states)"
    # A standby refuses to run hot with less of these than its primary has, and the standbys
    # restart first: lowering one would leave the first of them down.
    local current
    for ((i = 0; i < ${#names[@]}; i++)); do
        case "${names[i]}" in
            max_connections | max_worker_processes | max_wal_senders | max_prepared_transactions | max_locks_per_transaction)
                current="$(_ims_cluster_psql "$p" postgres "show ${names[i]}")"
                if [[ "${values[i]}" =~ ^[0-9]+$ && "$current" =~ ^[0-9]+$ ]] && ((values[i] < current)); then
                    _ims_die "${names[i]} can only be raised by a roll (standbys restart first and need at least the primary's $current); nothing was changed"
                fi
                ;;
        esac
    done
    _ims_roll_apply_settings "$p"
    for n in 1 2 3; do
        ((n == p)) || _ims_roll_restart_standby "$n" "$p"
    done
    _ims_note "switchover: node$p hands the primary over to a restarted standby"
    # Blocks until the monitor has the new primary; its event table is shown only on failure.
    out="$(ims_cluster_autoctl perform switchover --pgdata "$(_ims_cluster_pgdata monitor)" 2>&1)" || {
        printf '%s\n' "$out" >&2
        _ims_die "the switchover failed ($(_ims_roll_states))"
    }
    IMS_START_TIMEOUT="$IMS_ROLL_TIMEOUT" _ims_wait _ims_roll_cluster_whole ||
        _ims_die "the cluster did not settle after the switchover: $(_ims_roll_states)"
    new="$(_ims_roll_primary)" || _ims_die "no primary after the switchover: $(_ims_roll_states)"
    ((new != p)) || _ims_die "the switchover left node$p primary"
    _ims_roll_restart_standby "$p" "$new"
    # Each setting asked for is now in force everywhere: shown, and not waiting for a restart
    # (a promoted node has recovery_* settings pending; those are pg_autoctl's, not ours).
    local shown
    for ((i = 0; i < ${#names[@]}; i++)); do
        for n in 1 2 3; do
            IMS_START_TIMEOUT="$IMS_ROLL_TIMEOUT" _ims_wait _ims_roll_read_setting "$n" "${names[i]}" ||
                _ims_die "node$n did not answer after the roll: $(_ims_roll_states)"
            shown="$_ims_roll_shown"
            _ims_note "node$n: ${names[i]} = $shown"
            [[ "$shown" != *PENDING* ]] || _ims_die "node$n: ${names[i]} still waits for a restart"
        done
    done
    _ims_note "rolled the 3 PostgreSQL nodes in $((SECONDS - started)) s; primary now node$new"
}

# -------------------------------------------------------------- Redis

_ims_roll_redis_port() { printf '%s\n' $((IMS_CLUSTER_REDIS_PORT + $1 - 1)); } # N (1, 2)

_ims_roll_redis_field() { # PORT SECTION FIELD -> the INFO field's value
    redis-cli -h 127.0.0.1 -p "$1" info "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"
}

_ims_roll_sentinel_fields() { # I (0..2) COMMAND... -> "key=value" lines of a flat reply
    redis-cli -h 127.0.0.1 -p $((IMS_CLUSTER_SENTINEL_PORT + $1)) "${@:2}" 2>/dev/null |
        awk 'NR % 2 { key = $0; next } { print key "=" $0 }'
}

# PORT OFFSET -> 0 when the server on PORT is the master that every Sentinel names, with its
# replica online and past OFFSET of the master's stream (0: any), and every Sentinel counts the
# master, the replica (link up) and the two other Sentinels healthy: what a failover needs.
_ims_roll_redis_whole() {
    local master="$1" offset="${2:-0}" i fields replica
    [[ "$(_ims_roll_redis_field "$master" replication role)" == master ]] || return 1
    [[ "$(_ims_roll_redis_field "$master" replication connected_slaves)" == 1 ]] || return 1
    replica="$(_ims_roll_redis_field "$master" replication slave0)"
    [[ "$replica" == *state=online* ]] || return 1
    [[ "$replica" =~ offset=([0-9]+) ]] && ((BASH_REMATCH[1] >= offset)) || return 1
    for i in 0 1 2; do
        [[ "$(redis-cli -h 127.0.0.1 -p $((IMS_CLUSTER_SENTINEL_PORT + i)) sentinel \
            get-master-addr-by-name "$IMS_CLUSTER_REDIS_MASTER" 2>/dev/null | paste -sd' ')" == "127.0.0.1 $master" ]] ||
            return 1
        fields="$(_ims_roll_sentinel_fields "$i" sentinel master "$IMS_CLUSTER_REDIS_MASTER")"
        grep -qx 'flags=master' <<<"$fields" && grep -qx 'num-other-sentinels=2' <<<"$fields" ||
            return 1
        fields="$(_ims_roll_sentinel_fields "$i" sentinel replicas "$IMS_CLUSTER_REDIS_MASTER")"
        grep -qx 'flags=slave' <<<"$fields" && grep -qx 'master-link-status=ok' <<<"$fields" ||
            return 1
    done
}

_ims_roll_redis_wait_whole() { # MASTER_PORT WHAT -> waits for _ims_roll_redis_whole, or dies
    local offset
    offset="$(_ims_roll_redis_field "$1" replication master_repl_offset)"
    IMS_START_TIMEOUT="$IMS_ROLL_TIMEOUT" _ims_wait _ims_roll_redis_whole "$1" "${offset:-0}" ||
        _ims_die "$2: Redis is not whole again after ${IMS_ROLL_TIMEOUT}s (master 127.0.0.1:$1); the roll stops here"
}

_ims_roll_stop_pidfile() { # NAME COMM -> TERM to the process of .data/cluster/NAME, waits
    local dir pid
    dir="$(_ims_cluster_redis_dir "$1")"
    pid="$(_ims_cluster_pid_of "$dir" "$2")" || _ims_die "$1 is not running"
    kill -TERM "$pid"
    _ims_wait _ims_cluster_pid_gone_as "$pid" "$2" || _ims_die "$1 (pid $pid) did not stop"
}

ims_cluster_roll_redis() {
    local master master_port i m r new_port started=$SECONDS
    master="$(_ims_cluster_sentinel_master)" || _ims_die "no Sentinel names a master (scripts/cluster up)"
    master_port="${master#* }"
    for i in 1 2; do
        [[ "$(_ims_roll_redis_port "$i")" == "$master_port" ]] && m=$i || r=$i
    done
    [[ -n "${m:-}" && -n "${r:-}" ]] || _ims_die "the Sentinels' master $master is not one of the cluster's servers"
    _ims_wait _ims_roll_redis_whole "$master_port" ||
        _ims_die "a roll needs the master, its replica in sync and three Sentinels that agree (scripts/cluster status)"
    # The Sentinels first: each remembers the set in its sentinel.conf; the next goes only once
    # the restarted one sees the master, the replica and both peers again (a failover needs 2).
    for i in 0 1 2; do
        _ims_roll_stop_pidfile "sentinel-$((i + 1))" redis-sentinel
        _ims_cluster_start_sentinel "$i"
        _ims_roll_redis_wait_whole "$master_port" "sentinel-$((i + 1))"
        _ims_note "sentinel-$((i + 1)) restarted"
    done
    # The replica: the master goes on serving; it comes back as a replica (full sync).
    _ims_roll_stop_pidfile "redis-$r" redis-server
    _ims_cluster_start_redis "$r" "$master_port"
    _ims_roll_redis_wait_whole "$master_port" "redis-$r"
    _ims_note "redis-$r (replica) restarted and in sync"
    # A failover the Sentinels run: the restarted replica becomes master, the old master its
    # replica; the service follows the Sentinels (crates/cache/src/master.rs).
    new_port="$(_ims_roll_redis_port "$r")"
    [[ "$(redis-cli -h 127.0.0.1 -p "$IMS_CLUSTER_SENTINEL_PORT" sentinel failover \
        "$IMS_CLUSTER_REDIS_MASTER" 2>&1)" == OK ]] || _ims_die "SENTINEL FAILOVER was refused"
    _ims_roll_redis_wait_whole "$new_port" "the failover to redis-$r"
    _ims_note "failover: redis-$r (127.0.0.1:$new_port) is master"
    _ims_roll_stop_pidfile "redis-$m" redis-server
    _ims_cluster_start_redis "$m" "$new_port"
    _ims_roll_redis_wait_whole "$new_port" "redis-$m"
    _ims_note "redis-$m (the old master) restarted as a replica and in sync"
    _ims_note "rolled 3 Sentinels and 2 Redis servers in $((SECONDS - started)) s; master now redis-$r"
}
