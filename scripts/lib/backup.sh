# shellcheck shell=bash
# Backups and point-in-time restore with pgBackRest (issue 16, docs/operations.md "Backups and
# point-in-time restore"). Sourced after scripts/lib/services.sh (and, for the cluster,
# scripts/lib/cluster.sh) by scripts/backup, scripts/cluster (through ims_cluster_up) and
# scripts/services (through ims_start_postgres dev).
#
#   ims_backup_dir INSTANCE               where INSTANCE's configuration, spool, logs and (by
#                                         default) repository live
#   ims_backup_conf INSTANCE              its pgbackrest.conf (written by ims_backup_write_conf)
#   ims_backup_archive_command INSTANCE   the archive_command of its PostgreSQL server(s)
#   ims_backup_write_conf INSTANCE        (re)writes the configuration
#   ims_backup_stanza_create INSTANCE     creates the stanza (idempotent)
#   ims_backup_pgbackrest INSTANCE ARGS...  pgbackrest as the postgres user, its config and stanza
#   ims_backup_restore INSTANCE TIME DIR PORT   restores to TIME into DIR and starts it on PORT
#   ims_backup_restored_stop DIR          stops a restored instance
#
# INSTANCE is `cluster` (the loopback cluster: pg1..pg3 are node1..3, backups taken from a
# standby) or `dev` (the single-host dev instance: its only server). One stanza, `ims`, per
# instance. The repository is a local directory, $IMS_DATA_DIR/backup/INSTANCE/repo, unless
# IMS_BACKUP_REPO_CONF names a pgBackRest configuration file holding the repository settings
# (repo1-type=s3 and its repo1-s3-* options; deploy/backup/s3.conf.example): it is copied into
# the instance's conf.d (owned by postgres, mode 0600, since it holds the S3 key) and replaces
# the local repo1-path.
#
# Everything runs as the postgres user (pgBackRest must read the data directories, and the
# servers run archive-push as that user).

# The stanza: one per instance, each in its own repository.
IMS_BACKUP_STANZA=ims
# archive_timeout: a primary with no traffic still switches to a new WAL segment (and so
# archives what it has) at least this often: the RPO of a quiet system (docs/operations.md).
# (As PostgreSQL shows it, so that a server already set is recognised.)
IMS_BACKUP_ARCHIVE_TIMEOUT="${IMS_BACKUP_ARCHIVE_TIMEOUT:-1min}"
# 0: the dev instance and the cluster archive nothing (archive_mode off at their next start).
IMS_BACKUP_ARCHIVE="${IMS_BACKUP_ARCHIVE:-1}"

ims_backup_dir() { # INSTANCE
    case "$1" in
        cluster | dev) _ims_pg_base "backup/$1" ;;
        *) _ims_die "no backups for instance '$1' (cluster, dev)" ;;
    esac
}

ims_backup_conf() { printf '%s/pgbackrest.conf\n' "$(ims_backup_dir "$1")"; }

# pgBackRest's asynchronous archive-push, run by PostgreSQL (from its data directory, through
# /bin/sh), with the instance's conf.d (the S3 settings) rather than /etc/pgbackrest's. --pg1-path is the server's own data directory, found at run time rather than
# written in: ALTER SYSTEM's postgresql.auto.conf is copied when pg_auto_failover clones or
# rebuilds a node from another, and a path written in would then name the other node's pg_wal.
ims_backup_archive_command() { # INSTANCE
    # shellcheck disable=SC2016 # $(pwd -P) is for the server's shell, not this one
    printf 'pgbackrest --config=%q --config-include-path=%q --stanza=%s --pg1-path="$(pwd -P)" archive-push %%p\n' \
        "$(ims_backup_conf "$1")" "$(ims_backup_dir "$1")/conf.d" "$IMS_BACKUP_STANZA"
}

_ims_backup_pg_lines() { # INSTANCE [DEV_PORT] -> the stanza's pgN-* lines
    local n
    case "$1" in
        cluster)
            # All three nodes: pgBackRest finds the primary among them and, with
            # backup-standby, copies the files from a standby.
            for n in 1 2 3; do
                printf 'pg%s-path=%s\npg%s-port=%s\npg%s-socket-path=/var/run/postgresql\n' \
                    "$n" "$(_ims_cluster_pgdata "node$n")" "$n" "$(_ims_cluster_node_port "$n")" "$n"
            done
            ;;
        dev)
            printf 'pg1-path=%s/pg\npg1-port=%s\npg1-socket-path=/tmp\n' \
                "$(_ims_pg_base dev)" "${2:-$(ims_pg_port dev)}"
            ;;
    esac
}

ims_backup_write_conf() { # INSTANCE [DEV_PORT]
    local instance="$1" dev_port="${2:-}" dir conf tmp repo_lines standby=n
    dir="$(ims_backup_dir "$instance")"
    conf="$(ims_backup_conf "$instance")"
    (umask 022 && mkdir -p "$dir")
    (umask 077 && mkdir -p "$dir/conf.d" "$dir/spool" "$dir/log" "$dir/lock")
    [[ "$instance" != cluster ]] || standby=y
    if [[ -n "${IMS_BACKUP_REPO_CONF:-}" ]]; then
        [[ -f "$IMS_BACKUP_REPO_CONF" ]] || _ims_die "IMS_BACKUP_REPO_CONF='$IMS_BACKUP_REPO_CONF' is not a file"
        grep -q '^repo1-type=' "$IMS_BACKUP_REPO_CONF" ||
            _ims_die "$IMS_BACKUP_REPO_CONF sets no repo1-type (see deploy/backup/s3.conf.example)"
        install -m 0600 "$IMS_BACKUP_REPO_CONF" "$dir/conf.d/repo.conf"
        repo_lines="# The repository: conf.d/repo.conf (from IMS_BACKUP_REPO_CONF)"
    else
        rm -f "$dir/conf.d/repo.conf"
        (umask 077 && mkdir -p "$dir/repo")
        repo_lines="repo1-path=$dir/repo"
    fi
    tmp="$(mktemp "$dir/.pgbackrest.conf.XXXXXX")"
    cat >"$tmp" <<CONF
# Written by scripts/lib/backup.sh (ims_backup_write_conf $instance); rewritten on every start.
[global]
$repo_lines
# Two full backups kept (each with its differentials); WAL older than the oldest is expired.
repo1-retention-full=2
repo1-retention-full-type=count
# zstd: much faster than the default gzip for a similar size.
compress-type=zst
compress-level=3
process-max=2
# A backup starts with an immediate checkpoint instead of waiting for the next one.
start-fast=y
# Copy the files from a standby; only the backup start/stop calls go to the primary.
backup-standby=$standby
# archive-push returns as soon as the segment is queued in the spool; a background process
# pushes the queue (in parallel, process-max).
archive-async=y
spool-path=$dir/spool
# If the repository stays unreachable, WAL is dropped (and an error logged) beyond 4 GiB
# rather than filling the primary's disk: point-in-time restore then has a gap until the
# next backup, which is better than a primary that stops.
archive-push-queue-max=4GiB
lock-path=$dir/lock
log-path=$dir/log
log-level-console=info
log-level-file=info
log-level-stderr=off

[$IMS_BACKUP_STANZA]
$(_ims_backup_pg_lines "$instance" "$dev_port")
CONF
    mv -f "$tmp" "$conf"
    chmod 0644 "$conf"
    if ((EUID == 0)); then
        chown -R postgres:postgres "$dir"
    fi
}

# INSTANCE -> "name=value" lines of the settings that make a server of INSTANCE archive (ALTER
# SYSTEM; archive_mode needs a restart, the others a reload).
ims_backup_archive_gucs() {
    if [[ "$IMS_BACKUP_ARCHIVE" == 0 ]]; then
        printf 'archive_mode=off\n'
        return 0
    fi
    printf 'archive_mode=on\n'
    printf 'archive_command=%s\n' "$(ims_backup_archive_command "$1")"
    printf 'archive_timeout=%s\n' "$IMS_BACKUP_ARCHIVE_TIMEOUT"
}

# INSTANCE HOST PORT -> applies ims_backup_archive_gucs to the server on HOST:PORT by ALTER
# SYSTEM (postgresql.auto.conf, which outranks pg_auto_failover's file) and reloads; returns 0,
# or 3 when archive_mode changes only at the server's next restart.
ims_backup_archive_apply() {
    local instance="$1" host="$2" port="$3" kv name value changed="" psql q="'"
    psql="$(_ims_pg_bin_latest)/psql"
    while IFS= read -r kv; do
        name="${kv%%=*}"
        value="${kv#*=}"
        if [[ "$(PGCONNECT_TIMEOUT=3 "$psql" -X -tA -h "$host" -p "$port" -U postgres -d postgres \
            -c "show $name")" != "$value" ]]; then
            # A literal: single quotes doubled.
            PGCONNECT_TIMEOUT=3 "$psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres \
                -d postgres -c "alter system set $name = $q${value//$q/$q$q}$q" >/dev/null || return 1
            changed=1
        fi
    done < <(ims_backup_archive_gucs "$instance")
    if [[ -n "$changed" ]]; then
        PGCONNECT_TIMEOUT=3 "$psql" -X -q -h "$host" -p "$port" -U postgres -d postgres \
            -c 'select pg_reload_conf()' >/dev/null || return 1
        sleep 0.2 # the reload is asynchronous; pending_restart is read below
    fi
    [[ "$(PGCONNECT_TIMEOUT=3 "$psql" -X -tA -h "$host" -p "$port" -U postgres -d postgres \
        -c "select pending_restart from pg_settings where name = 'archive_mode'")" != t ]] || return 3
}

# PORT -> the dev instance (running on PORT) archives: its configuration written, the settings
# applied, the stanza created. Returns 3 when archive_mode waits for a restart.
ims_backup_dev_setup() {
    local port="$1" rc=0
    ims_backup_write_conf dev "$port"
    ims_backup_archive_apply dev 127.0.0.1 "$port" || rc=$?
    ((rc == 0)) || return "$rc"
    # The database starts even when the repository cannot be reached (WAL then waits in
    # pg_wal, and `scripts/backup` says what is wrong).
    [[ "$IMS_BACKUP_ARCHIVE" == 0 ]] || ims_backup_stanza_create dev ||
        _ims_note "warning: pgbackrest stanza-create (dev) failed, WAL is not archived yet; see $(ims_backup_dir dev)/log"
}

ims_backup_pgbackrest() { # INSTANCE ARGS...
    local instance="$1"
    shift
    command -v pgbackrest >/dev/null || _ims_die "pgbackrest is not installed (run ims_ensure_packages backup)"
    _ims_as_pg pgbackrest --config="$(ims_backup_conf "$instance")" \
        --config-include-path="$(ims_backup_dir "$instance")/conf.d" \
        --stanza="$IMS_BACKUP_STANZA" "$@"
}

ims_backup_stanza_create() { # INSTANCE
    ims_backup_pgbackrest "$1" --log-level-console=warn stanza-create
}

# INSTANCE TIME|latest DIR PORT -> restores the newest backup that ends before TIME into DIR (which
# must not exist or be empty), replays the archived WAL up to TIME (transactions committed
# at or before it, none after), and starts a server on it on 127.0.0.1:PORT which ends
# recovery there and takes writes (a new timeline). It archives nothing, so the repository
# stays the live instance's: archive-mode=off at restore and archive_mode=off at start.
ims_backup_restore() {
    local instance="$1" target="$2" dir="$3" port="$4" bin
    [[ "$dir" == /* ]] || dir="$PWD/$dir"
    if [[ -e "$dir" && -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
        _ims_die "$dir is not empty: a restore goes into a new directory"
    fi
    _ims_port_open "$port" && _ims_die "port $port is taken; choose another with --port"
    _ims_pg_can_reach "$dir" || _ims_die "the postgres user cannot reach $dir"
    local made=""
    [[ -e "$dir" ]] || made=1
    (umask 022 && mkdir -p "$(dirname "$dir")")
    mkdir -p "$dir"
    chmod 0700 "$dir"
    ((EUID != 0)) || chown postgres:postgres "$dir"
    _ims_note "restoring $instance to $target into $dir"
    # `latest`: the newest backup and every archived segment after it (a disaster restore). A
    # time must have a commit after it in the archive, else PostgreSQL stops with "recovery
    # ended before configured recovery target was reached".
    local -a recovery=(--type=time --target="$target" --target-action=promote)
    [[ "$target" != latest ]] || recovery=(--type=default)
    if ! ims_backup_pgbackrest "$instance" --pg1-path="$dir" "${recovery[@]}" --archive-mode=off restore; then
        # A failed restore leaves nothing behind in a directory it made.
        [[ -z "$made" ]] || rm -rf "$dir"
        _ims_die "pgbackrest restore failed; see $(ims_backup_dir "$instance")/log"
    fi
    bin="$(_ims_pg_bin_for "$dir")"
    local log="$dir.log"
    touch "$log"
    ((EUID != 0)) || chown postgres:postgres "$log"
    # The restored files carry the source's settings (a cluster node's pg_auto_failover
    # files: its port, 6 GB of shared buffers, a synchronous standby to wait for); these win.
    local -a opts=(
        -c listen_addresses=127.0.0.1 -c "port=$port" -c unix_socket_directories=/tmp
        -c archive_mode=off -c "synchronous_standby_names=''" -c shared_buffers=128MB
        -c logging_collector=off -c hot_standby=on -c shared_preload_libraries=pg_stat_statements
    )
    # Recovery refuses to run with fewer connections, workers, ... than the source had (the dev
    # instance sets max_connections on its command line, which no restored file holds): the
    # source's values, from the restored pg_control.
    local name value
    while read -r name value; do
        opts+=(-c "$name=$value")
    done < <(_ims_as_pg "$bin/pg_controldata" "$dir" | sed -nE \
        's/^(max_connections|max_worker_processes|max_wal_senders) setting: +([0-9]+)$/\1 \2/p;
         s/^max_prepared_xacts setting: +([0-9]+)$/max_prepared_transactions \1/p;
         s/^max_locks_per_xact setting: +([0-9]+)$/max_locks_per_transaction \1/p')
    if ! _ims_as_pg "$bin/pg_ctl" start -D "$dir" -l "$log" -w -t 600 -o "${opts[*]}" >/dev/null; then
        tail -n 20 "$log" >&2 || true
        _ims_die "the restored server did not start; log: $log"
    fi
    # Recovery replays up to the target, then promotes: wait for it to take writes.
    local deadline=$((SECONDS + 600))
    until [[ "$("$bin/psql" -X -tA -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c 'select pg_is_in_recovery()' 2>/dev/null)" == f ]]; do
        if ! _ims_pg_running_port "$dir" >/dev/null || ((SECONDS > deadline)); then
            tail -n 20 "$log" >&2 || true
            _ims_die "the restored server did not finish recovery; log: $log"
        fi
        sleep 0.5
    done
    _ims_note "restored server on 127.0.0.1:$port (data $dir, log $log); stop it with: scripts/backup $instance stop-restore --into $dir"
}

ims_backup_restored_stop() { # DIR
    local dir="$1"
    [[ "$dir" == /* ]] || dir="$PWD/$dir"
    _ims_pg_running_port "$dir" >/dev/null || return 0
    _ims_as_pg "$(_ims_pg_bin_for "$dir")/pg_ctl" stop -D "$dir" -m fast -w >/dev/null
    _ims_note "restored server on $dir stopped"
}

# ------------------------------------------------------------- metrics

# Where the backup metrics go: a directory the node exporter reads with
# --collector.textfile.directory (scripts/monitor passes this one). Production: Debian's
# node exporter reads /var/lib/prometheus/node-exporter (IMS_BACKUP_METRICS_DIR there; see
# deploy/backup/).
ims_backup_metrics_dir() {
    local dir="${IMS_BACKUP_METRICS_DIR:-${IMS_MONITOR_DIR:-$IMS_DATA_DIR/monitor}/textfile}"
    [[ "$dir" == /* ]] || dir="$PWD/$dir"
    printf '%s\n' "$dir"
}

# INSTANCE -> writes ims-backup-INSTANCE.prom into ims_backup_metrics_dir from `pgbackrest info
# --output=json` (docs/monitoring.md, "Backups"): the stanza's status, per backup type the
# newest backup's end time, duration and sizes, and the repository's size. Written to a temporary
# file and renamed, so the node exporter never reads half of it. When pgBackRest cannot read
# the repository the file says so (status 99, no backup times), which IMSBackupTooOld reports.
# The age itself is computed by Prometheus (time() - the end time), so the file only has to
# change when a backup is taken or expired; scripts/backup writes it after every backup and
# `metrics`, scripts/monitor up and the timer in deploy/backup/ refresh it.
ims_backup_write_metrics() {
    local instance="$1" dir file tmp json="" labels repo_bytes=""
    dir="$(ims_backup_metrics_dir)"
    file="$dir/ims-backup-$instance.prom"
    (umask 022 && mkdir -p "$dir")
    json="$(ims_backup_pgbackrest "$instance" --log-level-console=off --output=json info 2>/dev/null)" || json=""
    # The local repository's size on disk, WAL archive included (an S3 one is not walked).
    if [[ ! -f "$(ims_backup_dir "$instance")/conf.d/repo.conf" && -d "$(ims_backup_dir "$instance")/repo" ]]; then
        repo_bytes="$(du -sb "$(ims_backup_dir "$instance")/repo" 2>/dev/null | cut -f1)" || repo_bytes=""
    fi
    labels="instance_name=\"$instance\",stanza=\"$IMS_BACKUP_STANZA\""
    tmp="$(mktemp "$dir/.ims-backup-$instance.XXXXXX")"
    {
        cat <<PROM
# HELP ims_backup_status pgBackRest's status code of the stanza (0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, 6 backup running, 99 other or the repository cannot be read)
# TYPE ims_backup_status gauge
# HELP ims_backup_last_success_timestamp_seconds end time of the newest backup of each type that completed
# TYPE ims_backup_last_success_timestamp_seconds gauge
# HELP ims_backup_last_duration_seconds how long the newest backup of each type took
# TYPE ims_backup_last_duration_seconds gauge
# HELP ims_backup_last_size_bytes size of the database the newest backup of each type copied
# TYPE ims_backup_last_size_bytes gauge
# HELP ims_backup_last_stored_bytes bytes the newest backup of each type added to the repository (compressed, only what changed)
# TYPE ims_backup_last_stored_bytes gauge
# HELP ims_backup_count backups of each type kept in the repository
# TYPE ims_backup_count gauge
# HELP ims_backup_stored_bytes bytes all kept backups occupy in the repository (without the WAL archive)
# TYPE ims_backup_stored_bytes gauge
# HELP ims_backup_metrics_timestamp_seconds when this file was written from pgbackrest info
# TYPE ims_backup_metrics_timestamp_seconds gauge
PROM
        if [[ -n "$json" ]] && jq -e 'type == "array" and length > 0' >/dev/null 2>&1 <<<"$json"; then
            jq -r --arg l "$labels" '
                .[0] as $s
                | ($s.backup // []) | map(select((.error // false) | not)) as $b
                | "ims_backup_status{\($l)} \($s.status.code)",
                  ("full", "diff", "incr") as $t
                  | ($b | map(select(.type == $t))) as $bt
                  | "ims_backup_count{\($l),type=\"\($t)\"} \($bt | length)",
                    ($bt | max_by(.timestamp.stop) // empty
                     | "ims_backup_last_success_timestamp_seconds{\($l),type=\"\($t)\"} \(.timestamp.stop)",
                       "ims_backup_last_duration_seconds{\($l),type=\"\($t)\"} \(.timestamp.stop - .timestamp.start)",
                       "ims_backup_last_size_bytes{\($l),type=\"\($t)\"} \(.info.size)",
                       "ims_backup_last_stored_bytes{\($l),type=\"\($t)\"} \(.info.repository.delta)")
            ' <<<"$json"
            jq -r --arg l "$labels" '"ims_backup_stored_bytes{\($l)} \([.[0].backup[]?.info.repository.delta] | add // 0)"' <<<"$json"
        else
            echo "ims_backup_status{$labels} 99"
        fi
        if [[ -n "$repo_bytes" ]]; then
            echo "# HELP ims_backup_repository_bytes size of the local repository on disk, WAL archive included"
            echo "# TYPE ims_backup_repository_bytes gauge"
            echo "ims_backup_repository_bytes{$labels} $repo_bytes"
        fi
        echo "ims_backup_metrics_timestamp_seconds{$labels} $(date +%s)"
    } >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
}
