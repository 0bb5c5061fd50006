# shellcheck shell=bash
# The monitoring stack (issue 18): Prometheus, Alertmanager and the exporters, from Debian's
# packages, as private daemons of this checkout. Sourced by scripts/monitor after
# scripts/lib/services.sh (packages, pid checks, ports), scripts/lib/cluster.sh (the
# loopback cluster's addresses, to scrape it when it runs) and scripts/lib/redis_cluster.sh
# (the Redis Cluster's nodes, likewise).
#
#   ims_monitor_ensure_packages     apt-get install what is missing, the packages' own
#                                   services kept from starting
#   ims_monitor_up / ims_monitor_down / ims_monitor_status
#   ims_monitor_any_running         0 if a daemon of it runs (what ims_monitor_down stops)
#
# Every daemon listens on 127.0.0.1, on a port below the ephemeral range and away from the
# packages' defaults (9090, 9093/9094, 9100, 9187, 9121), which another Prometheus on the
# machine may hold:
#
#   Prometheus         IMS_PROMETHEUS_PORT (19090)
#   Alertmanager       IMS_ALERTMANAGER_PORT (19093); its cluster (gossip) port is disabled
#   node exporter      IMS_NODE_EXPORTER_PORT (19100)
#   postgres exporter  IMS_POSTGRES_EXPORTER_PORT (19187), one exporter per PostgreSQL server
#                      on this and the next ports (Debian's 0.11 scrapes one server; it has
#                      no /probe endpoint)
#   redis exporter     IMS_REDIS_EXPORTER_PORT (19121), one for every Redis, Sentinel and
#                      Redis Cluster node (multi-target: Prometheus asks
#                      /scrape?target=redis://...; Debian's 1.x has had /scrape since 1.0)
#
# Data, generated configuration, logs and pid files: IMS_MONITOR_DIR ($IMS_DATA_DIR/monitor).
#
# What is scraped comes from what runs now (see _ims_monitor_discover), unless named:
#   IMS_MONITOR_IMS_TARGETS    host:port,... of `ims serve` (/metrics)
#   IMS_MONITOR_PG_TARGETS     [name=]host:port[/database],... of PostgreSQL servers (user
#                              postgres, no password: the project's private servers). The
#                              exporter connects to the database (default postgres): the
#                              application's one (ims) for the order partitions metric
#   IMS_MONITOR_REDIS_TARGETS  [name=]host:port,... of Redis servers
#   IMS_MONITOR_SENTINEL_TARGETS  [name=]host:port,... of Redis Sentinels
#   IMS_MONITOR_REDIS_CLUSTER_TARGETS  [name=]host:port,... of Redis Cluster nodes; found:
#                              every node of scripts/redis-cluster while any of it runs
#                              (rcluster-node1...), masters and replicas, in the redis job
# A variable set to the empty string scrapes none of that kind. Run `scripts/monitor up`
# again after starting or stopping something: it regenerates the configuration, reloads
# Prometheus and restarts only the exporters whose command changed.
#
# Backups: the node exporter reads the textfile directory ims_backup_metrics_dir
# ($IMS_MONITOR_DIR/textfile) that scripts/backup writes its metrics into; `up` refreshes the
# files of the instances scraped (dev, cluster) that have a backup configuration and removes
# those of the others.
#
# Alerts: IMS_MONITOR_WEBHOOK_URL is where Alertmanager posts them (its webhook JSON); unset,
# they show on Alertmanager's page only. E-mail and Slack: deploy/prometheus/alertmanager.yml.
#
# IMS_MONITOR_TIME_SCALE (1) compresses time for tests: with 60, a minute of the rules
# (`for:`, rate windows) lasts a second, the scrape and evaluation interval is 1 s and
# Alertmanager's waits shrink alike. The rules are then a generated copy of
# deploy/prometheus/alerts.yml with only the durations divided; at 1 the file itself is loaded.

IMS_MONITOR_DIR="${IMS_MONITOR_DIR:-$IMS_DATA_DIR/monitor}"
[[ "$IMS_MONITOR_DIR" == /* ]] || IMS_MONITOR_DIR="$PWD/$IMS_MONITOR_DIR"
IMS_PROMETHEUS_PORT="${IMS_PROMETHEUS_PORT:-19090}"
IMS_ALERTMANAGER_PORT="${IMS_ALERTMANAGER_PORT:-19093}"
IMS_NODE_EXPORTER_PORT="${IMS_NODE_EXPORTER_PORT:-19100}"
IMS_POSTGRES_EXPORTER_PORT="${IMS_POSTGRES_EXPORTER_PORT:-19187}"
IMS_REDIS_EXPORTER_PORT="${IMS_REDIS_EXPORTER_PORT:-19121}"
IMS_MONITOR_TIME_SCALE="${IMS_MONITOR_TIME_SCALE:-1}"
IMS_MONITOR_RETENTION="${IMS_MONITOR_RETENTION:-15d}"

for _v in IMS_PROMETHEUS_PORT IMS_ALERTMANAGER_PORT IMS_NODE_EXPORTER_PORT \
    IMS_POSTGRES_EXPORTER_PORT IMS_REDIS_EXPORTER_PORT; do
    if ! [[ "${!_v}" =~ ^[0-9]+$ ]] || ((10#${!_v} < 1 || 10#${!_v} > 65535)); then
        _ims_die "$_v='${!_v}' is not a port number"
    fi
    _ims_port_check_ephemeral "${!_v}" "$_v"
done
unset _v
[[ "$IMS_MONITOR_TIME_SCALE" =~ ^[1-9][0-9]*$ ]] ||
    _ims_die "IMS_MONITOR_TIME_SCALE='$IMS_MONITOR_TIME_SCALE' must be a whole number from 1"

# The daemons, by the name of their pid file: the binary and its /proc comm (15 characters).
_ims_monitor_bin() { # NAME -> binary
    case "$1" in
        prometheus) echo prometheus ;;
        alertmanager) echo prometheus-alertmanager ;;
        node-exporter) echo prometheus-node-exporter ;;
        redis-exporter) echo prometheus-redis-exporter ;;
        postgres-exporter-*) echo prometheus-postgres-exporter ;;
    esac
}
_ims_monitor_comm() { local b; b="$(_ims_monitor_bin "$1")"; printf '%s\n' "${b:0:15}"; }

# ------------------------------------------------------------- packages

_ims_monitor_packages=(prometheus prometheus-alertmanager prometheus-node-exporter
    prometheus-postgres-exporter prometheus-redis-exporter)

_ims_monitor_packages_ok() {
    local p
    for p in prometheus promtool prometheus-alertmanager prometheus-node-exporter \
        prometheus-postgres-exporter prometheus-redis-exporter curl; do
        _ims_have "$p" || return 1
    done
}

# Installs what is missing. Each package would start its own daemon on the default port
# (Prometheus 9090, Alertmanager 9093, the exporters 9100, 9187, 9121) and, on a machine
# with systemd, enable it at boot: a policy-rc.d keeps invoke-rc.d from starting them here,
# as for PostgreSQL and Redis in ims_ensure_packages, and on systemd the units are disabled
# and stopped afterwards. IMS runs its own instances below.
ims_monitor_ensure_packages() {
    _ims_monitor_packages_ok && return 0
    local -a pkgs=("${_ims_monitor_packages[@]}" curl)
    ((EUID == 0)) || _ims_die "packages missing; as root run: apt-get install ${pkgs[*]}"
    _ims_note "installing ${pkgs[*]} (apt-get)"
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local -a apt=(apt-get -o DPkg::Lock::Timeout=300)
    local rc=0 pkg need_update="" unit
    for pkg in "${pkgs[@]}"; do
        apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
    done
    { [[ -z "$need_update" ]] || "${apt[@]}" update -qq; } || rc=$?
    ((rc != 0)) || "${apt[@]}" install -y -qq "${pkgs[@]}" >/dev/null || rc=$?
    [[ -z "$made_policy" ]] || rm -f "$policy"
    ((rc == 0)) || _ims_die "apt-get failed (exit $rc)"
    # With systemd running, policy-rc.d is not consulted by deb-systemd-invoke everywhere:
    # make sure the packages' own daemons are off.
    if [[ -d /run/systemd/system ]]; then
        for unit in prometheus prometheus-alertmanager prometheus-node-exporter \
            prometheus-postgres-exporter prometheus-redis-exporter; do
            systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
    _ims_monitor_packages_ok || _ims_die "packages installed but a Prometheus binary is still not found"
}

# ----------------------------------------------------------- discovery

_ims_monitor_split() { # LIST -> its comma-separated items, one a line
    local item
    local -a items
    IFS=',' read -r -a items <<<"$1"
    for item in "${items[@]}"; do
        item="${item//[[:space:]]/}"
        [[ -z "$item" ]] || printf '%s\n' "$item"
    done
}

# Prints "KIND NAME HOST:PORT" lines, KIND one of ims, pg, redis, sentinel: what to scrape.
# Without the IMS_MONITOR_*_TARGETS variables: the dev service (IMS_LISTEN, 8080) when it
# answers; every instance scripts/stack started (its pid file exists, so one that died is
# still scraped, and IMSDown says so); the dev PostgreSQL and Redis when they run; the
# loopback cluster's monitor, nodes, Redis servers and Sentinels while any part of it runs;
# every node of the Redis Cluster (scripts/redis-cluster) while any of them runs.
_ims_monitor_discover() {
    local item i pidfile port listen cluster=""
    # All of the cluster while any part of it runs: a node that died is still scraped (and
    # alerts); after `scripts/cluster down` none is.
    if [[ -z "${IMS_MONITOR_PG_TARGETS+set}" || -z "${IMS_MONITOR_REDIS_TARGETS+set}" ||
        -z "${IMS_MONITOR_SENTINEL_TARGETS+set}" ]] && ims_cluster_any_running; then
        cluster=1
    fi
    if [[ -n "${IMS_MONITOR_IMS_TARGETS+set}" ]]; then
        while read -r item; do echo "ims ${item%%=*} ${item#*=}"; done < <(_ims_monitor_split "$IMS_MONITOR_IMS_TARGETS")
    else
        listen="${IMS_LISTEN:-127.0.0.1:8080}"
        if _ims_monitor_http_ok "http://$listen/metrics"; then echo "ims dev $listen"; fi
        local stack_base="${IMS_STACK_BASE_PORT:-8091}"
        for pidfile in "$IMS_DATA_DIR"/stack/ims-*.pid; do
            [[ -e "$pidfile" ]] || continue
            i="${pidfile##*/ims-}"
            i="${i%.pid}"
            [[ "$i" =~ ^[0-9]+$ ]] && echo "ims stack-$i 127.0.0.1:$((stack_base + i))"
        done
    fi
    if [[ -n "${IMS_MONITOR_PG_TARGETS+set}" ]]; then
        _ims_monitor_named pg "$IMS_MONITOR_PG_TARGETS"
    else
        # The application's database when it exists (the order partitions are in it).
        if port="$(_ims_pg_running_port "$(_ims_pg_base dev)/pg" 2>/dev/null)" && [[ -n "$port" ]]; then
            if [[ "$(PGCONNECT_TIMEOUT=3 "$(_ims_pg_bin_latest)/psql" -X -tA -h 127.0.0.1 -p "$port" \
                -U postgres -d postgres -c "select 1 from pg_database where datname = 'ims'" 2>/dev/null)" == 1 ]]; then
                echo "pg dev 127.0.0.1:$port/ims"
            else
                echo "pg dev 127.0.0.1:$port"
            fi
        fi
        if [[ -n "$cluster" ]]; then
            echo "pg monitor $(_ims_cluster_host 0):$IMS_CLUSTER_PG_PORT"
            for i in 1 2 3; do echo "pg node$i $(_ims_cluster_host "$i"):$(_ims_cluster_node_port "$i")/ims"; done
        fi
    fi
    if [[ -n "${IMS_MONITOR_REDIS_TARGETS+set}" ]]; then
        _ims_monitor_named redis "$IMS_MONITOR_REDIS_TARGETS"
    else
        if _ims_redis_pid dev >/dev/null; then echo "redis dev 127.0.0.1:$(ims_redis_port dev)"; fi
        if [[ -n "$cluster" ]]; then
            for i in 1 2; do echo "redis redis-$i 127.0.0.1:$((IMS_CLUSTER_REDIS_PORT + i - 1))"; done
        fi
    fi
    # The Redis Cluster's nodes are Redis servers like the others (job redis): IMSRedisDown
    # and the cache dashboard's table of servers cover them, a replica as well as a master
    # (a dead replica leaves its master's slots one failure from being lost).
    if [[ -n "${IMS_MONITOR_REDIS_CLUSTER_TARGETS+set}" ]]; then
        _ims_monitor_named redis "$IMS_MONITOR_REDIS_CLUSTER_TARGETS" | sed 's/^redis redis-/redis rcluster-/'
    elif ims_rcluster_any_running; then
        while read -r i; do
            echo "redis rcluster-node$i 127.0.0.1:$(_ims_rcluster_port "$i")"
        done < <(_ims_rcluster_members)
    fi
    if [[ -n "${IMS_MONITOR_SENTINEL_TARGETS+set}" ]]; then
        _ims_monitor_named sentinel "$IMS_MONITOR_SENTINEL_TARGETS"
    else
        if [[ -n "$cluster" ]]; then
            for i in 1 2 3; do echo "sentinel sentinel-$i 127.0.0.1:$((IMS_CLUSTER_SENTINEL_PORT + i - 1))"; done
        fi
    fi
    return 0
}

_ims_monitor_named() { # KIND LIST -> "KIND NAME ADDR" per [name=]addr item (name: KIND-N)
    local n=0 item
    while read -r item; do
        n=$((n + 1))
        if [[ "$item" == *=* ]]; then echo "$1 ${item%%=*} ${item#*=}"; else echo "$1 $1-$n $item"; fi
    done < <(_ims_monitor_split "$2")
}

_ims_monitor_http_ok() { # URL -> 0 if it answers 2xx within 2 s
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
}

# --------------------------------------------------------- configuration

# Prints DURATION (e.g. 10m, 15s, 1h) divided by the time scale, in whole seconds, at least 1.
_ims_monitor_scaled() {
    local d="$1" n unit secs
    n="${d%[smh]}"
    unit="${d:${#n}}"
    case "$unit" in s) secs=$n ;; m) secs=$((n * 60)) ;; h) secs=$((n * 3600)) ;; esac
    secs=$((secs / IMS_MONITOR_TIME_SCALE))
    ((secs >= 1)) || secs=1
    printf '%ss\n' "$secs"
}

# FILE -> the rules with every `for:` and every range window ([5m]) divided by the time
# scale. Nothing else changes: the same expressions, thresholds and annotations.
_ims_monitor_scale_rules() {
    awk -v scale="$IMS_MONITOR_TIME_SCALE" '
        function secs(n, unit) {
            n = n * (unit == "m" ? 60 : unit == "h" ? 3600 : 1)
            n = int(n / scale)
            return (n < 1 ? 1 : n) "s"
        }
        {
            line = $0
            if (match(line, /^[[:space:]]*for:[[:space:]]*[0-9]+[smh][[:space:]]*$/)) {
                d = line; sub(/^[[:space:]]*for:[[:space:]]*/, "", d); sub(/[[:space:]]*$/, "", d)
                sub(/[0-9]+[smh]/, secs(substr(d, 1, length(d) - 1), substr(d, length(d))), line)
            }
            out = ""
            while (match(line, /\[[0-9]+[smh]\]/)) {
                d = substr(line, RSTART + 1, RLENGTH - 2)
                out = out substr(line, 1, RSTART - 1) "[" secs(substr(d, 1, length(d) - 1), substr(d, length(d))) "]"
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }
    ' "$1"
}

_ims_monitor_targets_yaml() { # KIND -> "- targets: [...]  labels: {name: ...}" entries
    local kind name addr found=""
    while read -r kind name addr; do
        [[ "$kind" == "$1" ]] || continue
        found=1
        printf '      - targets: ["%s"]\n        labels: {name: "%s"}\n' "$addr" "$name"
    done <<<"$_ims_monitor_found"
    [[ -n "$found" ]] || printf '      []\n'
}

# The postgres exporter (0.11) takes a second to answer while its server is down (it retries
# the connection): scraped every second with a 1 s timeout (a time scale of 15 or more) the
# scrape fails instead of reporting pg_up 0. Its job then waits 2 s.
_ims_monitor_pg_interval() {
    local interval
    interval="$(_ims_monitor_scaled 15s)"
    if ((${interval%s} < 2)); then
        printf '    scrape_interval: 2s\n    scrape_timeout: 2s\n'
    fi
}

# Writes prometheus.yml for what _ims_monitor_discover found ($_ims_monitor_found).
_ims_monitor_render_prometheus() { # FILE RULES
    local file="$1" rules="$2" interval kind name addr n=0
    interval="$(_ims_monitor_scaled 15s)"
    {
        cat <<YAML
# Generated by scripts/monitor up from what runs (or IMS_MONITOR_*_TARGETS); do not edit:
# the next \`scripts/monitor up\` writes it again. The production template is
# deploy/prometheus/prometheus.yml; docs/monitoring.md explains both.
global:
  scrape_interval: $interval
  scrape_timeout: $(_ims_monitor_scaled 10s)
  evaluation_interval: $interval
  external_labels:
    monitor: ims

rule_files:
  - "$rules"

alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$IMS_ALERTMANAGER_PORT"]

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$IMS_PROMETHEUS_PORT"]
  - job_name: alertmanager
    static_configs:
      - targets: ["127.0.0.1:$IMS_ALERTMANAGER_PORT"]
  # The machine: CPU, memory, disk I/O, network (the "System" dashboard).
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$IMS_NODE_EXPORTER_PORT"]
        labels: {name: "$(hostname -s 2>/dev/null || echo host)"}
  # Every \`ims serve\`: the alert rules expect job="ims".
  - job_name: ims
    metrics_path: /metrics
    static_configs:
$(_ims_monitor_targets_yaml ims)
  # One postgres exporter per server; instance is the server's address, not the exporter's.
  - job_name: postgres
$(_ims_monitor_pg_interval)
    static_configs:
YAML
        while read -r kind name addr; do
            [[ "$kind" == pg ]] || continue
            printf '      - targets: ["127.0.0.1:%s"]\n        labels: {name: "%s", instance: "%s"}\n' \
                $((IMS_POSTGRES_EXPORTER_PORT + n)) "$name" "${addr%%/*}"
            n=$((n + 1))
        done <<<"$_ims_monitor_found"
        ((n > 0)) || printf '      []\n'
        local job
        for job in redis sentinel; do
            cat <<YAML
  # Through the one redis exporter: /scrape?target=redis://ADDR, instance = ADDR.
  - job_name: $job
    metrics_path: /scrape
    static_configs:
$(_ims_monitor_targets_yaml "$job")
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
        replacement: redis://\$1
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$IMS_REDIS_EXPORTER_PORT
YAML
        done
    } >"$file"
}

# Writes alertmanager.yml: everything to the webhook (IMS_MONITOR_WEBHOOK_URL), or to no
# one when it is unset. The waits shrink with the time scale.
_ims_monitor_render_alertmanager() { # FILE
    local file="$1" receiver=none
    [[ -z "${IMS_MONITOR_WEBHOOK_URL:-}" ]] || receiver=webhook
    {
        cat <<YAML
# Generated by scripts/monitor up; do not edit (the next run writes it again). The commented
# template with e-mail and Slack receivers is deploy/prometheus/alertmanager.yml.
route:
  receiver: $receiver
  group_by: [alertname, job, instance]
  group_wait: $(_ims_monitor_scaled 30s)
  group_interval: $(_ims_monitor_scaled 5m)
  repeat_interval: $(_ims_monitor_scaled 4h)
# As deploy/prometheus/alertmanager.yml: no tickets about an instance that is down.
inhibit_rules:
  - source_matchers: ['alertname=~"IMSDown|IMSNotReady"']
    target_matchers: ['severity="ticket"']
    equal: [job, instance]
receivers:
  - name: none
YAML
        if [[ "$receiver" == webhook ]]; then
            cat <<YAML
  - name: webhook
    webhook_configs:
      - url: "$IMS_MONITOR_WEBHOOK_URL"
        send_resolved: true
YAML
        fi
    } >"$file"
}

# ------------------------------------------------------------- daemons

_ims_monitor_pid() { # NAME -> pid of our live daemon NAME, or fail
    local pidfile="$IMS_MONITOR_DIR/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && _ims_pid_alive "$pid" "$(_ims_monitor_comm "$1")" || return 1
    printf '%s\n' "$pid"
}

_ims_monitor_gone() { ! _ims_monitor_pid "$1" >/dev/null; }

_ims_monitor_reloaded() { # EPOCH -> 0 once Prometheus loaded its configuration at EPOCH or later
    local at
    at="$(curl -fsS --max-time 2 "http://127.0.0.1:$IMS_PROMETHEUS_PORT/api/v1/status/runtimeinfo" |
        sed -nE 's/.*"reloadConfigSuccess":true,"lastConfigTime":"([^"]+)".*/\1/p')"
    [[ -n "$at" ]] && (($(date -u -d "$at" +%s) >= $1))
}

_ims_monitor_stop() { # NAME
    local pid
    pid="$(_ims_monitor_pid "$1")" || { rm -f "$IMS_MONITOR_DIR/$1.pid" "$IMS_MONITOR_DIR/$1.cmd"; return 0; }
    kill -TERM "$pid"
    _ims_wait _ims_monitor_gone "$1" || _ims_die "$1 (pid $pid) did not stop"
    rm -f "$IMS_MONITOR_DIR/$1.pid" "$IMS_MONITOR_DIR/$1.cmd"
    _ims_note "$1 stopped"
}

# NAME PORT [ENV=VALUE...] -- ARGS... -> starts the daemon unless it runs with these very
# arguments (then Prometheus and Alertmanager reload their configuration on SIGHUP). Its
# command line is kept in NAME.cmd to tell; the log is NAME.log.
_ims_monitor_start() {
    local name="$1" port="$2" pid cmd bin
    shift 2
    local -a envs=()
    while [[ "$1" != -- ]]; do envs+=("$1"); shift; done
    shift
    bin="$(_ims_monitor_bin "$name")"
    cmd="$(printf '%q ' "${envs[@]}" "$bin" "$@")"
    if pid="$(_ims_monitor_pid "$name")"; then
        if [[ "$(cat "$IMS_MONITOR_DIR/$name.cmd" 2>/dev/null)" == "$cmd" ]]; then
            case "$name" in
                prometheus | alertmanager)
                    local since
                    since="$(date -u +%s)"
                    kill -HUP "$pid"
                    # So that `status` right after shows the new targets, not the old.
                    [[ "$name" != prometheus ]] || _ims_wait _ims_monitor_reloaded "$since" ||
                        _ims_die "Prometheus did not reload its configuration; log: $IMS_MONITOR_DIR/prometheus.log"
                    _ims_note "$name runs (pid $pid): configuration reloaded"
                    ;;
            esac
            return 0
        fi
        _ims_monitor_stop "$name"
    fi
    _ims_port_open "$port" && _ims_die "port $port ($name) is taken by another process; set its IMS_*_PORT"
    # setsid: it outlives this script and its terminal; env: the exporters read their
    # database address from the environment (it stays out of `ps`).
    (cd / && exec setsid env "${envs[@]}" "$bin" "$@") >>"$IMS_MONITOR_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$IMS_MONITOR_DIR/$name.pid"
    printf '%s' "$cmd" >"$IMS_MONITOR_DIR/$name.cmd"
    if ! _ims_wait _ims_port_open "$port"; then
        tail -n 20 "$IMS_MONITOR_DIR/$name.log" >&2 || true
        _ims_die "$name does not listen on 127.0.0.1:$port; log: $IMS_MONITOR_DIR/$name.log"
    fi
    _ims_note "$name on 127.0.0.1:$port (log $IMS_MONITOR_DIR/$name.log)"
}

# Rewrites the backup metrics of the dev instance and the cluster when they have a backup
# configuration and are scraped (a PostgreSQL target named dev, or node1 for the cluster, as
# discovery names them): the age alert then starts from the repository as it is, not from a
# file of an earlier run. The file of an instance not scraped is removed, as its exporter is:
# a dev instance stopped for a day must not page as a backup 26 h old.
_ims_monitor_backup_metrics() {
    local instance kind name addr scraped
    for instance in dev cluster; do
        scraped=""
        while read -r kind name addr; do
            [[ "$kind" == pg ]] || continue
            [[ "$name" == "$instance" || ( "$instance" == cluster && "$name" == node1 ) ]] && scraped=1
        done <<<"$_ims_monitor_found"
        if [[ -z "$scraped" ]]; then
            rm -f "$(ims_backup_metrics_dir)/ims-backup-$instance.prom"
        elif [[ -f "$(ims_backup_conf "$instance")" ]] && command -v pgbackrest >/dev/null; then
            ims_backup_write_metrics "$instance" ||
                _ims_note "warning: the backup metrics of $instance were not refreshed"
        fi
    done
}

ims_monitor_up() {
    local dir="$IMS_MONITOR_DIR" rules kind name addr n=0 f db
    (umask 022 && mkdir -p "$dir/prometheus/data" "$dir/alertmanager/data")
    _ims_monitor_found="$(_ims_monitor_discover)"

    rules="$IMS_REPO_ROOT/deploy/prometheus/alerts.yml"
    if ((IMS_MONITOR_TIME_SCALE != 1)); then
        _ims_monitor_scale_rules "$rules" >"$dir/prometheus/alerts.yml"
        rules="$dir/prometheus/alerts.yml"
    fi
    _ims_monitor_render_prometheus "$dir/prometheus/prometheus.yml" "$rules"
    _ims_monitor_render_alertmanager "$dir/alertmanager/alertmanager.yml"
    promtool check config --syntax-only "$dir/prometheus/prometheus.yml" >/dev/null 2>&1 ||
        promtool check config "$dir/prometheus/prometheus.yml" >&2 ||
        _ims_die "promtool rejects $dir/prometheus/prometheus.yml"
    promtool check rules "$rules" >/dev/null || _ims_die "promtool rejects $rules"
    amtool check-config "$dir/alertmanager/alertmanager.yml" >/dev/null ||
        _ims_die "amtool rejects $dir/alertmanager/alertmanager.yml"

    # The backup metrics: refreshed from the repositories, then read by the node exporter.
    (umask 022 && mkdir -p "$(ims_backup_metrics_dir)")
    _ims_monitor_backup_metrics
    _ims_monitor_start node-exporter "$IMS_NODE_EXPORTER_PORT" -- \
        "--web.listen-address=127.0.0.1:$IMS_NODE_EXPORTER_PORT" \
        "--collector.textfile.directory=$(ims_backup_metrics_dir)"
    # -redis.addr empty: its own /metrics then touches no Redis (the default is
    # localhost:6379, which may be someone else's); the targets come with each scrape.
    _ims_monitor_start redis-exporter "$IMS_REDIS_EXPORTER_PORT" -- \
        -web.listen-address "127.0.0.1:$IMS_REDIS_EXPORTER_PORT" -redis.addr "" \
        -include-system-metrics
    while read -r kind name addr; do
        [[ "$kind" == pg ]] || continue
        db=postgres
        [[ "$addr" != */* ]] || db="${addr#*/}"
        _ims_monitor_start "postgres-exporter-$n" $((IMS_POSTGRES_EXPORTER_PORT + n)) \
            "DATA_SOURCE_NAME=postgresql://postgres@${addr%%/*}/$db?sslmode=disable&connect_timeout=2" -- \
            "--web.listen-address=127.0.0.1:$((IMS_POSTGRES_EXPORTER_PORT + n))" \
            "--extend.query-path=$IMS_REPO_ROOT/deploy/prometheus/postgres-exporter.yml" \
            --disable-settings-metrics
        n=$((n + 1))
    done <<<"$_ims_monitor_found"
    # Exporters of servers no longer scraped.
    for f in "$dir"/postgres-exporter-*.pid; do
        [[ -e "$f" ]] || continue
        f="${f##*/postgres-exporter-}"
        f="${f%.pid}"
        ((f < n)) || _ims_monitor_stop "postgres-exporter-$f"
    done
    _ims_monitor_start alertmanager "$IMS_ALERTMANAGER_PORT" -- \
        "--config.file=$dir/alertmanager/alertmanager.yml" \
        "--storage.path=$dir/alertmanager/data" \
        "--web.listen-address=127.0.0.1:$IMS_ALERTMANAGER_PORT" \
        "--web.external-url=http://127.0.0.1:$IMS_ALERTMANAGER_PORT" \
        --cluster.listen-address=
    _ims_monitor_start prometheus "$IMS_PROMETHEUS_PORT" -- \
        "--config.file=$dir/prometheus/prometheus.yml" \
        "--storage.tsdb.path=$dir/prometheus/data" \
        "--storage.tsdb.retention.time=$IMS_MONITOR_RETENTION" \
        "--web.listen-address=127.0.0.1:$IMS_PROMETHEUS_PORT" \
        "--web.external-url=http://127.0.0.1:$IMS_PROMETHEUS_PORT" \
        "--web.console.templates=$IMS_REPO_ROOT/deploy/prometheus/consoles" \
        "--web.console.libraries=$IMS_REPO_ROOT/deploy/prometheus/console_libraries"
    _ims_wait _ims_monitor_http_ok "http://127.0.0.1:$IMS_PROMETHEUS_PORT/-/ready" ||
        _ims_die "Prometheus is not ready; log: $dir/prometheus.log"
    _ims_wait _ims_monitor_http_ok "http://127.0.0.1:$IMS_ALERTMANAGER_PORT/-/ready" ||
        _ims_die "Alertmanager is not ready; log: $dir/alertmanager.log"
    # A fresh Prometheus lists its targets a moment after it is ready; `status` shows them.
    _ims_wait _ims_monitor_has_targets || true
}

_ims_monitor_has_targets() {
    curl -fsS --max-time 2 "http://127.0.0.1:$IMS_PROMETHEUS_PORT/api/v1/targets?state=active" |
        grep -q '"scrapePool"'
}

_ims_monitor_names() { # -> the daemons that have a pid file, Prometheus first
    local f
    for f in prometheus alertmanager node-exporter redis-exporter; do echo "$f"; done
    for f in "$IMS_MONITOR_DIR"/postgres-exporter-*.pid; do
        [[ -e "$f" ]] || continue
        f="${f##*/}"
        echo "${f%.pid}"
    done
}

ims_monitor_down() {
    local name
    while read -r name; do _ims_monitor_stop "$name"; done < <(_ims_monitor_names)
}

ims_monitor_any_running() {
    local name
    while read -r name; do _ims_monitor_pid "$name" >/dev/null && return 0; done < <(_ims_monitor_names)
    return 1
}

# "job instance state" per target Prometheus is configured to scrape: `up`; `DOWN` when the
# scrape fails, or, for a server behind an exporter, when the exporter cannot reach it (pg_up,
# redis_up 0); `pending` before its first scrape.
_ims_monitor_targets() {
    local api="http://127.0.0.1:$IMS_PROMETHEUS_PORT/api/v1" targets servers job instance health
    targets="$(curl -fsS --max-time 3 "$api/targets?state=active" 2>/dev/null)" || return 1
    servers="$(curl -fsS -G --max-time 3 "$api/query" --data-urlencode 'query=pg_up or redis_up' 2>/dev/null |
        sed 's/},{"metric"/\n/g' |
        sed -nE 's/.*"instance":"([^"]*)".*"job":"([^"]*)".*"value":\[[0-9.]+,"([0-9.]+)"\].*/\2 \1 \3/p')"
    while read -r job instance health; do
        [[ -n "$job" ]] || continue
        case "$health" in
            up) grep -qxF "$job $instance 0" <<<"$servers" && health=DOWN ;;
            down) health=DOWN ;;
            *) health=pending ;;
        esac
        echo "$job $instance $health"
    done < <(printf '%s\n' "${targets//'{"discoveredLabels"'/$'\n'}" |
        sed -nE 's/.*"labels":\{"instance":"([^"]*)","job":"([^"]*)".*"health":"([a-z]*)".*/\2 \1 \3/p' | sort)
}

ims_monitor_status() { # prints the daemons and the targets; returns 1 if a daemon is down
    local rc=0 name pid port targets job instance value
    while read -r name; do
        case "$name" in
            prometheus) port=$IMS_PROMETHEUS_PORT ;;
            alertmanager) port=$IMS_ALERTMANAGER_PORT ;;
            node-exporter) port=$IMS_NODE_EXPORTER_PORT ;;
            redis-exporter) port=$IMS_REDIS_EXPORTER_PORT ;;
            postgres-exporter-*) port=$((IMS_POSTGRES_EXPORTER_PORT + ${name##*-})) ;;
        esac
        if pid="$(_ims_monitor_pid "$name")"; then
            printf '%-20s running on 127.0.0.1:%s, pid %s\n' "$name:" "$port" "$pid"
        else
            printf '%-20s stopped (port %s)\n' "$name:" "$port"
            rc=1
        fi
    done < <(_ims_monitor_names)
    if grep -q 'receiver: webhook' "$IMS_MONITOR_DIR/alertmanager/alertmanager.yml" 2>/dev/null; then
        echo "alerts:              to $(sed -nE 's/.*url: "([^"]*)".*/\1/p' "$IMS_MONITOR_DIR/alertmanager/alertmanager.yml")"
    else
        echo "alerts:              on http://127.0.0.1:$IMS_ALERTMANAGER_PORT only (set IMS_MONITOR_WEBHOOK_URL)"
    fi
    if targets="$(_ims_monitor_targets)" && [[ -n "$targets" ]]; then
        echo "targets (job, instance, state):"
        while read -r job instance value; do
            printf '  %-13s %-24s %s\n' "$job" "$instance" "$value"
        done <<<"$targets"
        echo "dashboards:          http://127.0.0.1:$IMS_PROMETHEUS_PORT/consoles/ims.html"
    fi
    return "$rc"
}
