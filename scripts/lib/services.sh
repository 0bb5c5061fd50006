# shellcheck shell=bash
# Private PostgreSQL and Redis instances for IMS development and tests.
#
# Sourced by scripts/services, scripts/run and scripts/test, which run with
# `set -euo pipefail`. Every instance has a NAME (dev, test) and lives under
# $IMS_DATA_DIR/NAME, on its own ports, so the machine's own PostgreSQL (5432)
# and Redis (6379), if any, are never used or touched.
#
#   ims_ensure_packages SET...       (Debian packages; base: PostgreSQL, Redis, nginx, curl, openssl,
#                                     pgBackRest;
#                                     test: also shellcheck, procps; cluster: also
#                                     pg_auto_failover, Redis Sentinel, iproute2, nftables)
#   ims_start_postgres NAME PORT     ims_stop_postgres NAME
#   ims_start_redis NAME PORT        ims_stop_redis NAME
#   ims_status NAME                  (returns 1 if something is not running)
#   ims_pg_port NAME / ims_redis_port NAME   port, honouring the env overrides (a taken
#                                            default moves to the next free port)
#   ims_psql PORT [psql args...]     psql as postgres over TCP, stops on error
#
# Ports: dev PG 14320 / Redis 23790, test PG 14321 / Redis 23791, overridable
# by IMS_DEV_PG_PORT, IMS_DEV_REDIS_PORT, IMS_TEST_PG_PORT, IMS_TEST_REDIS_PORT. All below the
# kernel's ephemeral range (see _ims_port_check_ephemeral); a taken default moves up by 10, at
# most 49 times (14320 -> 14810), so it stays below it too.

IMS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# The repo's git-ignored folder unless told otherwise.
IMS_DATA_DIR="${IMS_DATA_DIR:-$IMS_REPO_ROOT/.data}"
# Absolute, because the servers run from / (see _ims_as_pg).
[[ "$IMS_DATA_DIR" == /* ]] || IMS_DATA_DIR="$PWD/$IMS_DATA_DIR"
# Seconds to wait for a server to accept connections.
IMS_START_TIMEOUT="${IMS_START_TIMEOUT:-30}"

_ims_die() {
    echo "ims: error: $*" >&2
    exit 1
}

_ims_note() {
    echo "ims: $*" >&2
}

# ---------------------------------------------------------------- ports

_ims_port() { # NAME KIND(PG|REDIS) -> port from IMS_<NAME>_<KIND>_PORT or default
    local var default=""
    var="IMS_$(printf '%s' "$1" | tr '[:lower:]-' '[:upper:]_')_${2}_PORT"
    case "$1:$2" in
        dev:PG) default=14320 ;;
        dev:REDIS) default=23790 ;;
        test:PG) default=14321 ;;
        test:REDIS) default=23791 ;;
    esac
    local port="${!var:-$default}"
    [[ -n "$port" ]] || _ims_die "no port for '$1': set $var"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
        _ims_die "$var='$port' is not a port number"
    fi
    printf '%s\n' "$port"
}

# Every default port lies below 32768, outside the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default): the kernel gives ports of that range
# to outgoing connections, so a server port there can be held by some client's socket (a load
# test's, say, even in TIME-WAIT) just when the server starts, which then fails to bind.
_ims_port_check_ephemeral() { # PORT VAR -> a note when PORT lies in this machine's range
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
    [[ "$lo" =~ ^[0-9]+$ && "$hi" =~ ^[0-9]+$ ]] || return 0
    if ((10#$1 >= lo && 10#$1 <= hi)); then
        _ims_note "warning: port $1 ($2) lies in the kernel's ephemeral range ($lo-$hi): an outgoing connection may hold it and the server then fails to start; choose a port below $lo"
    fi
    return 0
}

ims_pg_port() { _ims_pick_port "$1" PG; }
ims_redis_port() { _ims_pick_port "$1" REDIS; }

# NAME KIND -> the port NAME's KIND server uses: the env override if set (strictly); otherwise
# the default, or when another process holds it (a server of another checkout, say) the next
# port that is free or already NAME's own. CI clones the repository next to a developer's
# checkout whose servers may still be running, so a taken default must not fail the run.
_ims_pick_port() {
    local name="$1" kind="$2" var port tries
    var="$(_ims_port_var "$name" "$kind")"
    port="$(_ims_port "$name" "$kind")"
    if [[ -n "${!var:-}" ]]; then
        _ims_port_check_ephemeral "$port" "$var"
        printf '%s\n' "$port"
        return 0
    fi
    for ((tries = 0; tries < 50; tries++)); do
        if ! _ims_port_open "$port" || _ims_port_is_ours "$name" "$kind" "$port"; then
            _ims_port_check_ephemeral "$port" "$var"
            printf '%s\n' "$port"
            return 0
        fi
        port=$((port + 10))
    done
    _ims_die "no free port for $name $kind near its default; set $var"
}

_ims_port_is_ours() { # NAME KIND PORT -> 0 if NAME's own KIND server listens on PORT
    case "$2" in
        PG) [[ "$(_ims_pg_running_port "$(_ims_pg_base "$1")/pg" 2>/dev/null)" == "$3" ]] ;;
        REDIS) _ims_redis_is_ours "$1" "$3" ;;
    esac
}

_ims_port_var() { # NAME KIND -> name of the env var that overrides the port
    printf 'IMS_%s_%s_PORT\n' "$(printf '%s' "$1" | tr '[:lower:]-' '[:upper:]_')" "$2"
}

_ims_port_open() { # PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT
    # bash's /dev/tcp needs no extra tool (ss/lsof may be missing on a fresh box).
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_ims_pid_zombie() { # PID -> 0 if PID is a zombie
    local stat state
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    # Format: "pid (comm) state ..."; comm may itself contain spaces or ")".
    state="${stat##*) }"
    [[ "${state%% *}" == Z ]]
}

_ims_pid_not_zombie() { ! _ims_pid_zombie "$1"; }

_ims_pid_alive() { # PID COMM -> 0 if PID is a live (not zombie) process named COMM
    # A killed daemon stays a zombie until PID 1 reaps it; in containers that
    # can take seconds, and kill -0 still succeeds meanwhile.
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] && ! _ims_pid_zombie "$1"
}

_ims_wait() { # COMMAND... -> retry COMMAND until it succeeds, or fail after the timeout
    local deadline=$((SECONDS + IMS_START_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# ------------------------------------------------------------- packages

_ims_pg_bin_latest() { # -> bin dir of the highest installed PostgreSQL, or nothing
    local v
    local -a found=()
    for v in /usr/lib/postgresql/*/bin; do
        [[ -x "$v/initdb" && -x "$v/pg_ctl" ]] && found+=("$v")
    done
    ((${#found[@]})) || return 0
    printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

_ims_pg_sharedir() { # BINDIR -> share dir of that PostgreSQL version
    local bin="$1" dir=""
    if [[ -x "$bin/pg_config" ]]; then
        dir="$("$bin/pg_config" --sharedir 2>/dev/null || true)"
    fi
    if [[ -z "$dir" || ! -d "$dir" ]]; then
        # Debian layout: /usr/lib/postgresql/15/bin -> /usr/share/postgresql/15
        dir="/usr/share/postgresql/$(basename "$(dirname "$bin")")"
    fi
    printf '%s\n' "$dir"
}

_ims_have() { # COMMAND -> 0 if COMMAND is installed; /usr/sbin and /sbin may be missing
    # from a user's PATH (nginx, ip, nft live there)
    command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" || -x "/sbin/$1" ]]
}

_ims_packages_ok() { # base: PostgreSQL (with contrib), Redis, nginx, curl, openssl
    local bin share
    bin="$(_ims_pg_bin_latest)"
    [[ -n "$bin" ]] || return 1
    _ims_have redis-server || return 1
    _ims_have redis-cli || return 1
    # The gateway (scripts/stack and its tests).
    _ims_have nginx || return 1
    # scripts/bench waits for its services with it.
    _ims_have curl || return 1
    # The gateway's development CA and certificate (scripts/lib/tls.sh).
    _ims_have openssl || return 1
    # The build: crates with C inside (mimalloc, ring) need a C compiler, which rustup does
    # not bring.
    _ims_have cc || return 1
    # Backups and the WAL archive of the dev instance and the cluster (scripts/lib/backup.sh).
    _ims_have pgbackrest || return 1
    # Reads `pgbackrest info --output=json` into the backup metrics (ims_backup_write_metrics).
    _ims_have jq || return 1
    share="$(_ims_pg_sharedir "$bin")"
    # pg_trgm backs the search indexes; pg_stat_statements is preloaded.
    [[ -f "$share/extension/pg_trgm.control" && -f "$share/extension/pg_stat_statements.control" ]]
}

_ims_test_packages_ok() { # test: what scripts/test and the tests run besides the base set
    # scripts/test lints every shell script.
    _ims_have shellcheck || return 1
    # The tests run kill(1) (procps; `command -v kill` would find bash's builtin).
    [[ -x /usr/bin/kill || -x /bin/kill ]] || return 1
    # scripts/fuzz installs schemathesis into a venv of Debian's python3 (python3-venv brings
    # ensurepip, python3-pip the pip it bootstraps from).
    [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null
}

_ims_cluster_packages_ok() { # cluster: pg_autoctl, redis-sentinel, ip and nft, for scripts/cluster
    _ims_have pg_autoctl || return 1
    _ims_have redis-sentinel || return 1
    # The namespaced cluster (scripts/cluster --netns) and its partitions (failure test (e)).
    _ims_have ip || return 1
    _ims_have nft || return 1
    local share
    share="$(_ims_pg_sharedir "$(_ims_pg_bin_latest)")"
    [[ -f "$share/extension/pgautofailover.control" ]]
}

# SET... -> installs, from Debian, what is missing of these sets (each includes base):
#   base     PostgreSQL (with contrib), Redis, nginx, curl, openssl, a C compiler (build-essential)
#            and pgBackRest (the dev instance and the cluster archive their WAL with it)
#   test     also shellcheck (scripts/test lints the scripts), procps (kill, run by tests) and
#            python3, python3-venv and python3-pip (scripts/fuzz installs schemathesis with them)
#   cluster  also pg_auto_failover for the newest PostgreSQL, Redis Sentinel, iproute2 (ip:
#            the namespaced cluster) and nftables (nft: its partitions)
ims_ensure_packages() {
    (($# > 0)) || _ims_die "ims_ensure_packages: name a set (base, test, cluster, screenshots)"
    local set want_test="" want_cluster="" want_screenshots="" ok=1 pgver
    for set in "$@"; do
        case "$set" in
            base) ;;
            test) want_test=1 ;;
            cluster) want_cluster=1 ;;
            screenshots) want_screenshots=1 ;;
            *) _ims_die "ims_ensure_packages: no package set '$set' (base, test, cluster, screenshots)" ;;
        esac
    done
    _ims_packages_ok || ok=""
    [[ -z "$want_test" ]] || _ims_test_packages_ok || ok=""
    [[ -z "$want_cluster" ]] || _ims_cluster_packages_ok || ok=""
    [[ -z "$want_screenshots" ]] || _ims_have chromium || ok=""
    [[ -z "$ok" ]] || return 0
    local -a pkgs=(postgresql postgresql-contrib redis-server nginx curl openssl build-essential pgbackrest jq)
    [[ -z "$want_test" ]] || pkgs+=(shellcheck procps python3 python3-venv python3-pip)
    # The monitor tests load every dashboard in Debian's headless Chromium (screenshots).
    [[ -z "$want_screenshots" ]] || pkgs+=(chromium)
    if [[ -n "$want_cluster" ]]; then
        # Debian names the extension after the server's major version (postgresql-15-auto-failover).
        pgver="$(basename "$(dirname "$(_ims_pg_bin_latest)")")"
        [[ "$pgver" =~ ^[0-9]+$ ]] || pgver=15
        pkgs+=("postgresql-$pgver-auto-failover" redis-sentinel iproute2 nftables)
    fi
    ((EUID == 0)) || _ims_die "packages missing; as root run: apt-get install ${pkgs[*]}"
    _ims_note "installing ${pkgs[*]} (apt-get)"
    # IMS runs its own instances on private ports; the distribution's services
    # (PostgreSQL on 5432, Redis on 6379, Sentinel on 26379, nginx on port 80) are not
    # wanted, so a policy-rc.d (Debian's switch for this) keeps the packages from starting
    # them where an init system would.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Another apt (unattended-upgrades, another checkout's run) may hold dpkg's lock: wait for
    # it rather than fail at once.
    local -a apt=(apt-get -o DPkg::Lock::Timeout=300)
    local rc=0 pkg need_update=""
    # The package lists are fetched only when apt does not know a package (a fresh box).
    for pkg in "${pkgs[@]}"; do
        apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
    done
    { [[ -z "$need_update" ]] || "${apt[@]}" update -qq; } || rc=$?
    ((rc != 0)) || "${apt[@]}" install -y -qq "${pkgs[@]}" >/dev/null || rc=$?
    [[ -z "$made_policy" ]] || rm -f "$policy"
    ((rc == 0)) || _ims_die "apt-get failed (exit $rc)"
    _ims_packages_ok || _ims_die "packages installed but PostgreSQL (with pg_trgm, pg_stat_statements), redis-server, nginx, curl, openssl, cc or pgbackrest still not found"
    [[ -z "$want_test" ]] || _ims_test_packages_ok ||
        _ims_die "packages installed but shellcheck, kill or python3's venv still not found"
    [[ -z "$want_cluster" ]] || _ims_cluster_packages_ok ||
        _ims_die "packages installed but pg_autoctl, the pgautofailover extension, redis-sentinel, ip or nft still not found"
    [[ -z "$want_screenshots" ]] || _ims_have chromium ||
        _ims_die "packages installed but chromium still not found"
}

# ------------------------------------------------------------ postgres

# PostgreSQL refuses to run as root, so as root everything runs as the
# `postgres` system user. From / so that a cwd it cannot enter is harmless.
_ims_as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

_ims_pg_can_reach() { # PATH -> 0 if the postgres user can reach PATH (or where it will be created)
    local p="$1"
    ((EUID == 0)) || return 0
    # Walk up to the deepest part that exists; what we create below it is 0755.
    while [[ ! -e "$p" ]]; do p="$(dirname "$p")"; done
    runuser -u postgres -- test -x "$p" 2>/dev/null
}

_ims_pg_base() { # NAME -> directory holding pg/ and postgres.log for NAME
    local name="$1" hash
    if _ims_pg_can_reach "$IMS_DATA_DIR/$name"; then
        printf '%s\n' "$IMS_DATA_DIR/$name"
    else
        # E.g. repo under /root (0700): keep the cluster where postgres can go,
        # one folder per checkout.
        hash="$(printf '%s' "$IMS_REPO_ROOT" | sha1sum | cut -c1-8)"
        printf '%s\n' "/var/lib/ims/$hash/$name"
    fi
}

_ims_pg_bin_for() { # DATADIR -> bin dir matching an existing cluster, else the newest
    local datadir="$1" ver
    if [[ -f "$datadir/PG_VERSION" ]]; then
        ver="$(cat "$datadir/PG_VERSION")"
        [[ -x "/usr/lib/postgresql/$ver/bin/pg_ctl" ]] ||
            _ims_die "$datadir was made by PostgreSQL $ver, which is not installed; remove that directory to start afresh"
        printf '%s\n' "/usr/lib/postgresql/$ver/bin"
    else
        _ims_pg_bin_latest
    fi
}

_ims_pg_running_port() { # DATADIR -> port of the postmaster running on DATADIR, or fail
    local datadir="$1" pid
    [[ -f "$datadir/postmaster.pid" ]] || return 1
    # postmaster.pid: line 1 the postmaster's pid, line 4 its port. The pid
    # may be stale (crash, reboot) or, briefly, a zombie.
    pid="$(sed -n 1p "$datadir/postmaster.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] && _ims_pid_alive "$pid" postgres || return 1
    sed -n 4p "$datadir/postmaster.pid"
}

_ims_pg_initdb() { # BIN DATADIR
    local bin="$1" datadir="$2" locale=C
    # C.UTF-8 sorts like C but knows UTF-8 character classes; not every
    # minimal image has it.
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    _ims_note "initialising PostgreSQL cluster in $datadir (locale $locale)"
    if ! _ims_as_pg "$bin/initdb" -D "$datadir" --auth=trust --username=postgres \
        -E UTF8 --locale="$locale" >"$datadir.initdb.log" 2>&1; then
        cat "$datadir.initdb.log" >&2
        rm -rf "$datadir" # so the next attempt starts clean
        _ims_die "initdb failed for $datadir"
    fi
    rm -f "$datadir.initdb.log"
}

ims_start_postgres() { # NAME PORT
    local name="$1" port="$2" base datadir log bin running
    base="$(_ims_pg_base "$name")"
    datadir="$base/pg"
    log="$base/postgres.log"
    if [[ "$base" != "$IMS_DATA_DIR/$name" ]]; then
        _ims_note "postgres user cannot reach $IMS_DATA_DIR; $name cluster goes to $datadir"
    fi

    if running="$(_ims_pg_running_port "$datadir")" && [[ -n "$running" ]]; then
        if [[ "$running" == "$port" ]]; then
            _ims_wait "$(_ims_pg_bin_for "$datadir")/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres ||
                _ims_die "PostgreSQL ($name) runs on $port but does not accept connections; see $log"
            # A running server is not restarted under its clients: archive_mode waits.
            if [[ "$name" == dev ]] && ! ims_backup_dev_setup "$port"; then
                _ims_note "PostgreSQL (dev): archive_mode changes at its next restart (scripts/services down dev; scripts/services up dev)"
            fi
            return 0
        fi
    fi

    # Checked before any restart below, so a bad port leaves a running server be.
    if _ims_port_open "$port"; then
        _ims_die "port $port is taken by another process; set $(_ims_port_var "$name" PG) to a free port"
    fi
    if [[ -n "$running" ]]; then
        _ims_note "PostgreSQL ($name) runs on port $running; restarting it on $port"
        ims_stop_postgres "$name"
    fi

    # umask 022: created folders must be traversable by postgres.
    (umask 022 && mkdir -p "$base")
    if [[ ! -f "$datadir/PG_VERSION" ]]; then
        rm -rf "$datadir"
        mkdir -m 0700 "$datadir"
        ((EUID != 0)) || chown postgres:postgres "$datadir"
    fi
    bin="$(_ims_pg_bin_for "$datadir")"
    [[ -n "$bin" ]] || _ims_die "PostgreSQL is not installed (run ims_ensure_packages)"
    [[ -f "$datadir/PG_VERSION" ]] || _ims_pg_initdb "$bin" "$datadir"

    # The postmaster refuses to start while the pid in a stale postmaster.pid
    # still exists, which a killed, not yet reaped (zombie) one does.
    if [[ -f "$datadir/postmaster.pid" ]]; then
        _ims_wait _ims_pid_not_zombie "$(sed -n 1p "$datadir/postmaster.pid")" || true
    fi

    touch "$log"
    ((EUID != 0)) || chown postgres:postgres "$log"

    # Settings go on the command line rather than into postgresql.conf so the
    # script stays the single source of truth; a restart applies any change.
    local -a opts=(
        -c listen_addresses=127.0.0.1 -c "port=$port"
        # Socket in /tmp: no clash with the system cluster's /var/run/postgresql.
        -c unix_socket_directories=/tmp
        # Test suites open many pools in parallel.
        -c max_connections=300
        -c shared_buffers=256MB
        # Query statistics for finding slow queries (contrib).
        -c shared_preload_libraries=pg_stat_statements
    )
    if [[ "$name" == test ]]; then
        # Test data is throwaway: trade crash safety for speed.
        opts+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi

    local out
    # Output only on failure: pg_ctl chatters about stale pid files it handles.
    if ! out="$(_ims_as_pg "$bin/pg_ctl" start -D "$datadir" -l "$log" -w \
        -t "$IMS_START_TIMEOUT" -o "${opts[*]}" 2>&1)"; then
        printf '%s\n' "$out" >&2
        tail -n 20 "$log" >&2 || true
        _ims_die "PostgreSQL ($name) failed to start on port $port; log: $log"
    fi
    _ims_wait "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres ||
        _ims_die "PostgreSQL ($name) started but does not accept connections on port $port; log: $log"
    _ims_note "PostgreSQL ($name) running on 127.0.0.1:$port, data $datadir"
    if [[ "$name" == dev ]]; then
        # WAL archiving into the dev instance's pgBackRest repository (scripts/lib/backup.sh);
        # the first start with it needs a second one for archive_mode.
        local rc=0
        ims_backup_dev_setup "$port" || rc=$?
        if ((rc == 3)); then
            ims_stop_postgres dev
            ims_start_postgres dev "$port"
        elif ((rc != 0)); then
            _ims_die "PostgreSQL (dev): the archive settings could not be applied"
        fi
    fi
}

ims_stop_postgres() { # NAME
    local name="$1" datadir bin
    datadir="$(_ims_pg_base "$name")/pg"
    _ims_pg_running_port "$datadir" >/dev/null || return 0
    bin="$(_ims_pg_bin_for "$datadir")"
    # fast: roll back open sessions instead of waiting for clients to leave.
    _ims_as_pg "$bin/pg_ctl" stop -D "$datadir" -m fast -w -t "$IMS_START_TIMEOUT" >/dev/null
    _ims_note "PostgreSQL ($name) stopped"
}

ims_psql() { # PORT [psql args...]
    local port="$1" bin
    shift
    bin="$(_ims_pg_bin_latest)"
    # -X: ignore ~/.psqlrc, so output is predictable for scripts.
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# --------------------------------------------------------------- redis

_ims_redis_dir() { printf '%s\n' "$IMS_DATA_DIR/$1/redis"; }

_ims_redis_pid() { # NAME -> pid of our live redis-server for NAME, or fail
    local pidfile pid
    pidfile="$(_ims_redis_dir "$1")/redis.pid"
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    # Guard against a stale pidfile whose pid now belongs to something else.
    _ims_pid_alive "$pid" redis-server || return 1
    printf '%s\n' "$pid"
}

_ims_pid_gone() { ! _ims_pid_alive "$1" redis-server; }

_ims_redis_ping() { # PORT
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

_ims_redis_is_ours() { # NAME PORT -> 0 if the server on PORT is NAME's instance
    local dir reply
    dir="$(_ims_redis_dir "$1")"
    reply="$(redis-cli -h 127.0.0.1 -p "$2" config get pidfile 2>/dev/null | sed -n 2p)"
    [[ "$reply" == "$dir/redis.pid" ]]
}

ims_start_redis() { # NAME PORT
    local name="$1" port="$2" dir conf
    dir="$(_ims_redis_dir "$name")"
    conf="$IMS_REPO_ROOT/deploy/redis/redis.conf"
    [[ -f "$conf" ]] || _ims_die "missing $conf"

    if _ims_redis_pid "$name" >/dev/null && _ims_redis_ping "$port" &&
        _ims_redis_is_ours "$name" "$port"; then
        return 0
    fi

    # Checked before any restart below, so a bad port leaves a running server be.
    if _ims_port_open "$port"; then
        _ims_die "port $port is taken by another process; set $(_ims_port_var "$name" REDIS) to a free port"
    fi
    if _ims_redis_pid "$name" >/dev/null; then
        _ims_note "Redis ($name) is running but not on port $port; restarting it"
        ims_stop_redis "$name"
    fi

    (umask 022 && mkdir -p "$dir")
    # Project config plus the per-instance parts; absolute paths because
    # --dir changes Redis's working directory.
    if ! redis-server "$conf" --port "$port" --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --daemonize yes; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
        _ims_die "Redis ($name) failed to start on port $port; log: $dir/redis.log"
    fi
    if ! _ims_wait _ims_redis_ping "$port"; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
        _ims_die "Redis ($name) did not answer PING on port $port within ${IMS_START_TIMEOUT}s; log: $dir/redis.log"
    fi
    _ims_note "Redis ($name) running on 127.0.0.1:$port, dir $dir"
}

ims_stop_redis() { # NAME
    local name="$1" pid
    pid="$(_ims_redis_pid "$name")" || return 0
    # SIGTERM is a clean shutdown; with persistence off nothing is written.
    kill -TERM "$pid"
    _ims_wait _ims_pid_gone "$pid" ||
        _ims_die "Redis ($name, pid $pid) did not stop"
    rm -f "$(_ims_redis_dir "$name")/redis.pid"
    _ims_note "Redis ($name) stopped"
}

# -------------------------------------------------------------- status

ims_status() { # NAME -> prints one line per service; returns 1 if any is down
    local name="$1" rc=0 datadir running pg_port redis_port pid
    pg_port="$(ims_pg_port "$name")"
    redis_port="$(ims_redis_port "$name")"
    datadir="$(_ims_pg_base "$name")/pg"
    if running="$(_ims_pg_running_port "$datadir")" && [[ -n "$running" ]]; then
        echo "postgres ($name): running on 127.0.0.1:$running, data $datadir"
        [[ "$running" == "$pg_port" ]] || { echo "  (expected port $pg_port)"; rc=1; }
    else
        echo "postgres ($name): stopped (port $pg_port, data $datadir)"
        rc=1
    fi
    if pid="$(_ims_redis_pid "$name")"; then
        if _ims_redis_ping "$redis_port" && _ims_redis_is_ours "$name" "$redis_port"; then
            echo "redis    ($name): running on 127.0.0.1:$redis_port, pid $pid, dir $(_ims_redis_dir "$name")"
        else
            echo "redis    ($name): running (pid $pid) but not answering on port $redis_port"
            rc=1
        fi
    else
        echo "redis    ($name): stopped (port $redis_port)"
        rc=1
    fi
    return "$rc"
}

# Backups (pgBackRest): the dev instance and the cluster archive their WAL when they start.
# shellcheck source=scripts/lib/backup.sh
source "$IMS_REPO_ROOT/scripts/lib/backup.sh"
