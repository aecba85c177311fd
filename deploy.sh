#!/usr/bin/env bash
# deploy.sh: set up a droplet for Holdfast, deploy new versions to it, roll back, clean up.
#
#   sudo ./deploy.sh --setup --domain shop.example.com --email owner@example.com
#   sudo ./deploy.sh                  # deploy HOLDFAST_REF (default main) of HOLDFAST_REPO
#   sudo ./deploy.sh --rollback       # serve the previous release again
#   ./deploy.sh --dry-run [...]       # print every command of any of these, run none
#
# `./deploy.sh --help` lists every option. What it makes (paths change with the variables
# below):
#
#   /srv/holdfast/releases/<UTC time>-<commit>/  one release: the code and its own .venv
#   /srv/holdfast/current                        symlink to the release being served
#   /srv/holdfast/shared/instance, .../backups   what outlives releases (owned by holdfast)
#   /srv/holdfast/repo.git                       a mirror of HOLDFAST_REPO, fetched each deploy
#   /srv/holdfast/logs/deploy-*.log              each deploy's output
#   /srv/holdfast/cache/{pip,npm}                download caches (--clean empties them)
#   /etc/holdfast/holdfast.env                   every setting and secret; never overwritten
#   /etc/systemd/system/holdfast-*               units from deploy/ (see each file's header)
#   /etc/nginx/sites-available/holdfast          from nginx/holdfast.conf
#   /etc/letsencrypt/live/<domain>/              its certificate (/etc/holdfast/tls: --no-tls)
#
# Releases are owned by root and only read by the shop's user, `holdfast`: the running shop
# cannot rewrite its own code. Migrations and backups run as `holdfast`.
#
# Several app servers behind a load balancer share one managed Postgres and Redis: set each up
# with `--setup --app-only --database-url URL --redis-url URL`, the first as it is and every
# other one with `--no-cron` too (the periodic jobs must run exactly once per shop). Deploy
# them one at a time: the first runs the migrations, the others find nothing left to do.
#
# Environment (for tests and unusual machines): HOLDFAST_ROOT (/srv/holdfast), HOLDFAST_ETC
# (/etc/holdfast), SYSTEMD_DIR (/etc/systemd/system), NGINX_DIR (/etc/nginx), HOLDFAST_BIN_DIR
# (/usr/local/bin, where the `holdfast` command goes), HOLDFAST_USER
# (holdfast), HOLDFAST_UPSTREAM (127.0.0.1:8000, gunicorn's socket), HOLDFAST_KEEP (5),
# HOLDFAST_HEALTH_TRIES (20) and HOLDFAST_HEALTH_DELAY (3 seconds); and, instead of flags,
# HOLDFAST_DOMAIN, HOLDFAST_EMAIL, HOLDFAST_REPO, HOLDFAST_REF, HOLDFAST_VENV, DATABASE_URL,
# REDIS_URL.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOLDFAST_ROOT=${HOLDFAST_ROOT:-/srv/holdfast}
HOLDFAST_ETC=${HOLDFAST_ETC:-/etc/holdfast}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
NGINX_DIR=${NGINX_DIR:-/etc/nginx}
BIN_DIR=${HOLDFAST_BIN_DIR:-/usr/local/bin}
APP_USER=${HOLDFAST_USER:-holdfast}
UPSTREAM=${HOLDFAST_UPSTREAM:-127.0.0.1:8000}
KEEP=${HOLDFAST_KEEP:-5}
HEALTH_TRIES=${HOLDFAST_HEALTH_TRIES:-20}
HEALTH_DELAY=${HOLDFAST_HEALTH_DELAY:-3}

RELEASES=$HOLDFAST_ROOT/releases
CURRENT=$HOLDFAST_ROOT/current
SHARED=$HOLDFAST_ROOT/shared
MIRROR=$HOLDFAST_ROOT/repo.git
LOGS=$HOLDFAST_ROOT/logs
CACHE=$HOLDFAST_ROOT/cache
ENV_FILE=$HOLDFAST_ETC/holdfast.env
WEBROOT=/var/www/letsencrypt   # Let's Encrypt's challenges (nginx/holdfast.conf serves it)

MODE=deploy
DRY_RUN=0
APP_ONLY=0
CRON=1
TLS=1
BACKUP=1
DOMAIN=${HOLDFAST_DOMAIN:-}
EMAIL=${HOLDFAST_EMAIL:-}
REPO=${HOLDFAST_REPO:-}
REF=${HOLDFAST_REF:-}
SOURCE=""
VENV=${HOLDFAST_VENV:-}
DB_URL=${DATABASE_URL:-}
REDIS=${REDIS_URL:-}
CERT_DIR=""  # the TLS certificate's folder (--setup)
RELEASE=""   # the release this run builds, once it exists
FLASK_ARGS=() # --flask: the flask command's arguments
COMMIT=""    # the commit it is built from

usage() {
  cat <<EOF
Usage: deploy.sh [--setup | --rollback | --clean] [options]

With no mode, deploy a new release: fetch, build its venv, install htmx, back up, migrate,
build the static files, switch $CURRENT, restart, check /health/ready, and go
back to the previous release if that check fails.

Modes
  --setup             set this droplet up (as root), then deploy once the settings are complete
  --rollback          serve the previous release again (migrations are not undone)
  --clean             remove releases beyond --keep, the pip and npm caches, deploy logs > 30 days
  --flask ARGS...     run \`flask --app wsgi ARGS...\` in the current release as $APP_USER with
                      the shop's settings (installed as \`holdfast ARGS...\`, e.g.
                      \`sudo holdfast holdfast create-owner you@example.com\`)
  --help              this text

Set-up (--setup)
  --domain NAME       the shop's domain name (asked for when missing)
  --email ADDRESS     the owner's email: Let's Encrypt's notices and ALERT_EMAIL (asked for)
  --app-only          use an external Postgres and Redis (a managed database): no local ones;
                      needs --database-url and --redis-url. For several app servers behind a
                      load balancer; give every one but the first --no-cron
  --database-url URL  Postgres for --app-only (or DATABASE_URL)
  --redis-url URL     Redis for --app-only (or REDIS_URL)
  --no-cron           do not run holdfast-cron (the periodic jobs) here: exactly one server may
  --no-tls            no Let's Encrypt certificate: a self-signed one (a test box)

Deploy (no mode, and --setup's first deploy)
  --repo URL          git repository to deploy (default: HOLDFAST_REPO in $ENV_FILE)
  --ref REF           branch, tag or commit (default: HOLDFAST_REF there, else main)
  --from PATH         deploy a local directory (a git checkout: its tracked and untracked,
                      not ignored, files) or a tarball instead of fetching
  --venv PATH         use this existing virtualenv (linked, no pip install): for tests only
  --no-backup         skip the backup before migrating
  --keep N            releases to keep (default $KEEP)

Any mode
  --dry-run           print every command without running any (any user, no systemd needed)
EOF
}

# ------------------------------------------------------------------------------- printing

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}

# The arguments as one shell command line: words quoted only where they need it.
quote() {
  local arg words=()
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      words+=("$arg")
    else
      words+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  printf '%s' "${words[*]}"
}

# run CMD...: print the command, then run it (unless --dry-run). Every change goes through
# run or prints itself the same way first (render, pipelines), so --dry-run shows them all.
run() {
  printf '+ %s\n' "$(quote "$@")"
  ((DRY_RUN)) || "$@"
}

# run_in_release USER CMD...: CMD inside the release with the shop's settings from ENV_FILE
# (as USER through runuser, or as root when USER is empty).
run_in_release() {
  local user=$1
  shift
  local cmd=("$@")
  [[ -z $user ]] || cmd=(runuser -u "$user" -- "$@")
  printf '+ cd %s && %s    # settings from %s\n' "$(quote "$RELEASE")" "$(quote "${cmd[@]}")" "$ENV_FILE"
  ((DRY_RUN)) && return 0
  (cd "$RELEASE" && export_settings && exec "${cmd[@]}")
}

# ------------------------------------------------------------------------------- settings

# The KEY=value lines of ENV_FILE, read the way systemd's EnvironmentFile= reads them: no
# `source`, so a `$` or a backtick in a password stays a character.
read_settings() {
  local line key value
  [[ -r $ENV_FILE ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    printf '%s=%s\n' "$key" "$value"
  done <"$ENV_FILE"
}

setting() {
  read_settings | sed -n "s/^$1=//p" | tail -n 1
}

export_settings() {
  local pair
  while IFS= read -r pair; do
    export "${pair?}"
  done < <(read_settings)
  export FLASK_SKIP_DOTENV=1
}

# Settings only the owner can fill in, still empty. Each provider's keys are those of
# REAL_PROVIDERS in app/config.py: keep the two in step.
settings_to_fill() {
  local providers name key names=()
  providers=$(setting PAYMENT_PROVIDERS)
  [[ -n ${providers// /} ]] || echo "PAYMENT_PROVIDERS (stripe, paypal or razorpay) and its keys"
  IFS=', ' read -ra names <<<"$providers"
  for name in "${names[@]}"; do
    for key in $(provider_keys "$name"); do
      [[ -n $(setting "$key") ]] || echo "$key"
    done
  done
  [[ -n $(setting MAIL_SERVER) ]] || echo "MAIL_SERVER, MAIL_USERNAME, MAIL_PASSWORD, MAIL_DEFAULT_SENDER"
  return 0
}

provider_keys() {
  case $1 in
    stripe) echo STRIPE_SECRET_KEY STRIPE_WEBHOOK_SECRET ;;
    paypal) echo PAYPAL_CLIENT_ID PAYPAL_CLIENT_SECRET PAYPAL_WEBHOOK_ID ;;
    razorpay) echo RAZORPAY_KEY_ID RAZORPAY_KEY_SECRET RAZORPAY_WEBHOOK_SECRET ;;
  esac
}

random_hex() {
  head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# ------------------------------------------------------------------------------- templates

# Placeholders whose values are secrets: --dry-run and the log show <secret> instead.
SECRET_PLACEHOLDERS=" __SECRET_KEY__ __DATABASE_URL__ __REDIS_URL__ "

sed_escape() {
  printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

# render TEMPLATE DEST MODE GROUP -- __PLACEHOLDER__=value...: write TEMPLATE with its
# placeholders filled in to DEST (group GROUP unless ''), replacing DEST whole (mv) so no
# reader ever sees half a file.
render() {
  local src=$1 dest=$2 mode=$3 group=$4 pair key value args=() shown=()
  shift 5
  for pair in "$@"; do
    key=${pair%%=*}
    value=$(sed_escape "${pair#*=}")
    args+=(-e "s|$key|$value|g")
    if [[ $SECRET_PLACEHOLDERS == *" $key "* ]]; then
      shown+=(-e "s|$key|<secret>|g")
    else
      shown+=(-e "s|$key|$value|g")
    fi
  done
  printf '+ %s > %s\n' "$(quote sed "${shown[@]}" "$src")" "$(quote "$dest.new")"
  ((DRY_RUN)) || sed "${args[@]}" "$src" >"$dest.new"
  run chmod "$mode" "$dest.new"
  [[ -z $group ]] || run chgrp "$group" "$dest.new"
  run mv -f "$dest.new" "$dest"
}

# The placeholders the unit files use.
unit_values() {
  printf '%s\n' "__APP_DIR__=$CURRENT" "__ENV_FILE__=$ENV_FILE" "__USER__=$APP_USER" \
    "__UPSTREAM__=$UPSTREAM" "__SHARED__=$SHARED" "__SYSTEMD_DIR__=$SYSTEMD_DIR"
}

# ------------------------------------------------------------------------------- releases

current_release() {
  [[ -L $CURRENT ]] || return 0
  basename "$(readlink "$CURRENT")"
}

# Release names start with their UTC time, so name order is age order.
releases_newest_first() {
  [[ -d $RELEASES ]] || return 0
  find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort -r
}

# The release deployed before the current one: the next one in name (age) order.
previous_release() {
  local current name seen=0
  current=$(current_release)
  while read -r name; do
    if ((seen)); then
      echo "$name"
      return 0
    fi
    if [[ $name == "$current" ]]; then seen=1; fi
  done < <(releases_newest_first)
}

# Point `current` at a release in one step: a new symlink renamed over the old one (mv -T is
# rename(2)), so every process sees either the old release or the new one.
switch_to() {
  say "Switch $CURRENT to $1"
  run ln -sfn "$RELEASES/$1" "$CURRENT.new"
  run mv -T "$CURRENT.new" "$CURRENT"
}

prune_releases() {
  local current name n=0
  current=$(current_release)
  while read -r name; do
    n=$((n + 1))
    if ((n > KEEP)) && [[ $name != "$current" ]]; then
      run rm -rf "${RELEASES:?}/$name"
    fi
  done < <(releases_newest_first)
}

# ------------------------------------------------------------------------------- fetching

# Fill RELEASE with the code: from --from (a directory or tarball) or from the git mirror.
fetch_code() {
  if [[ -n $SOURCE && -d $SOURCE ]]; then
    copy_directory "$SOURCE"
  elif [[ -n $SOURCE ]]; then
    extract_tarball "$SOURCE"
  else
    archive_from_mirror
  fi
  ((DRY_RUN)) || [[ -f $RELEASE/pyproject.toml && -f $RELEASE/wsgi.py ]] ||
    die "$RELEASE has no pyproject.toml and wsgi.py: is the source a Holdfast checkout?"
}

# Git refuses a checkout owned by another user (the operator's, under sudo) unless told.
local_git() {
  git -c safe.directory="$SOURCE" -C "$SOURCE" "$@"
}

copy_directory() {
  say "Copy $1 into $RELEASE"
  if local_git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    printf '+ %s | %s | %s\n' "$(quote git -C "$1" ls-files -z --cached --others --exclude-standard)" \
      "$(quote tar -C "$1" --null --ignore-failed-read -T - -cf -)" \
      "$(quote tar -C "$RELEASE" --no-same-owner -xf -)"
    ((DRY_RUN)) && return 0
    local_git ls-files -z --cached --others --exclude-standard |
      tar -C "$1" --null --ignore-failed-read -T - -cf - | tar -C "$RELEASE" --no-same-owner -xf -
  else
    printf '+ %s | %s\n' "$(quote tar -C "$1" --exclude=.git --exclude=.venv --exclude=node_modules --exclude=instance -cf - .)" \
      "$(quote tar -C "$RELEASE" --no-same-owner -xf -)"
    ((DRY_RUN)) && return 0
    tar -C "$1" --exclude=.git --exclude=.venv --exclude=node_modules --exclude=instance -cf - . |
      tar -C "$RELEASE" --no-same-owner -xf -
  fi
}

# A tarball of the repository's files (`git archive HEAD`), at its top or inside one folder
# (GitHub's archives, `git archive --prefix=holdfast/`).
extract_tarball() {
  local strip=()
  tar -tf "$1" | grep -qxE '(\./)?pyproject\.toml' || strip=(--strip-components=1)
  say "Unpack $1 into $RELEASE"
  run tar -C "$RELEASE" --no-same-owner "${strip[@]}" -xf "$1"
}

archive_from_mirror() {
  printf '+ %s | %s\n' "$(quote git -C "$MIRROR" archive "$COMMIT")" "$(quote tar -C "$RELEASE" -xf -)"
  ((DRY_RUN)) || mirror_git archive "$COMMIT" | tar -C "$RELEASE" -xf -
}

mirror_git() {
  git -c safe.directory="$MIRROR" -C "$MIRROR" "$@"
}

# Set COMMIT, which names the release: for a repository, fetch it into the mirror first.
resolve_commit() {
  if [[ -n $SOURCE && -d $SOURCE ]]; then
    COMMIT=$(local_git rev-parse --short=12 HEAD 2>/dev/null) || COMMIT=local
    if [[ $COMMIT != local && -n $(local_git status --porcelain 2>/dev/null | head -n 1) ]]; then
      COMMIT+=-dirty
    fi
  elif [[ -n $SOURCE ]]; then
    COMMIT=tarball
  else
    say "Fetch $REF from $REPO into $MIRROR"
    if [[ -d $MIRROR ]]; then
      run git -C "$MIRROR" remote set-url origin "$REPO"
      run git -C "$MIRROR" fetch --prune --quiet origin
    else
      run git clone --mirror --quiet "$REPO" "$MIRROR"
    fi
    if ! COMMIT=$(mirror_git rev-parse --verify --quiet "$REF^{commit}" 2>/dev/null); then
      ((DRY_RUN)) || die "$REPO has no branch, tag or commit $REF"
      COMMIT="<commit>"
    fi
  fi
}

# ------------------------------------------------------------------------------- building

# A venv of the release's own, from constraints.txt. Editable (-e) on purpose: the wheel of
# `.` carries no templates, static files or migrations, so the one copy of the app the
# processes import must be the release's own folder.
build_venv() {
  if [[ -n $VENV ]]; then
    say "Use the existing virtualenv $VENV (--venv: no pip install)"
    run ln -s "$VENV" "$RELEASE/.venv"
    return 0
  fi
  say "Create $RELEASE/.venv and install the pinned dependencies"
  run python3 -m venv "$RELEASE/.venv"
  run env PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE/pip}" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$RELEASE/.venv/bin/pip" install --quiet -c "$RELEASE/constraints.txt" -e "$RELEASE"
}

build_release() {
  run ln -s "$SHARED/instance" "$RELEASE/instance"
  build_venv
  say "Install htmx from npm (scripts/install_assets.py)"
  run env npm_config_cache="${npm_config_cache:-$CACHE/npm}" \
    "$RELEASE/.venv/bin/python" "$RELEASE/scripts/install_assets.py"
  run "$RELEASE/.venv/bin/python" -m compileall -q "$RELEASE/app" "$RELEASE/migrations"
  say "Build the static files"
  run_in_release "" .venv/bin/flask --app wsgi holdfast build-static
}

migrate() {
  if ((BACKUP)) && [[ -n $(current_release) ]]; then
    say "Back the database up before migrating (--no-backup skips it)"
    run_in_release "$APP_USER" .venv/bin/flask --app wsgi holdfast backup
  fi
  say "Migrate the database (while the current release still serves)"
  run_in_release "$APP_USER" .venv/bin/flask --app wsgi db upgrade
}

# ------------------------------------------------------------------------------- services

# Restarting holdfast-web.service (never its .socket) is the reload: the socket, held by
# systemd, keeps taking connections into its backlog while the old gunicorn finishes its
# requests (SIGTERM is gunicorn's graceful stop) and the new one starts from the release
# `current` now names, its venv included (see deploy/holdfast-web.service).
restart_services() {
  say "Restart the web server and the worker on $1"
  run systemctl restart holdfast-web.service || return 1
  run systemctl restart holdfast-worker.service || return 1
  if [[ -e $SYSTEMD_DIR/holdfast-cron.service ]]; then
    run systemctl restart holdfast-cron.service || return 1
  else
    note "holdfast-cron.service is not installed here (--no-cron): not restarted"
  fi
}

# /health/ready answers 200 once the database, Redis and migrations are ready. Requests
# reach gunicorn through its socket, so the first ones wait while it boots.
healthy() {
  say "Check http://$UPSTREAM/health/ready (up to $HEALTH_TRIES tries, ${HEALTH_DELAY}s apart)"
  local status=0
  run curl --fail-with-body --silent --show-error --max-time 10 --retry "$((HEALTH_TRIES - 1))" \
    --retry-delay "$HEALTH_DELAY" --retry-all-errors "http://$UPSTREAM/health/ready" || status=$?
  echo # curl ends the answer without a newline
  return "$status"
}

rollback_after_failed_check() {
  local failed=$1 previous
  previous=$(previous_release)
  if [[ -z $previous ]]; then
    die "$failed did not start or does not answer /health/ready, and there is no earlier
release to go back to: it stays current. Read: journalctl -u holdfast-web -u holdfast-worker -n 100"
  fi
  printf '\ndeploy.sh: %s did not start or does not answer /health/ready: going back to %s\n' \
    "$failed" "$previous" >&2
  switch_to "$previous"
  restart_services "$previous" || warn "$previous did not restart either"
  healthy || warn "$previous does not answer /health/ready either"
  run rm -rf "${RELEASES:?}/$failed"
  die "Deploy of $failed FAILED and was rolled back: $previous serves again.
Migrations are forward-only: the database keeps $failed's migrations (nothing is downgraded),
so $previous now runs on the newer schema. That works while migrations only add columns,
tables and indexes; if one removed or renamed something, restore the backup taken before this
deploy (ls $SHARED/backups; docs/RUNBOOK.md). Why it failed: journalctl -u holdfast-web -n 100"
}

# ------------------------------------------------------------------------------- deploy

# Without --dry-run, keep a copy of everything this run prints in LOGS.
start_log() {
  ((DRY_RUN)) && return 0
  mkdir -p "$LOGS"
  local log
  log="$LOGS/deploy-$(date -u +%Y%m%dT%H%M%SZ)-$MODE.log"
  exec > >(tee -a "$log") 2> >(tee -a "$log" >&2)
  note "log: $log"
}

# One deploy.sh at a time: a second waits for nothing and stops.
take_lock() {
  ((DRY_RUN)) && return 0
  mkdir -p "$HOLDFAST_ROOT"
  exec 9>"$HOLDFAST_ROOT/.deploy.lock"
  flock -n 9 || die "another deploy.sh is running (lock: $HOLDFAST_ROOT/.deploy.lock)"
}

# Root, except for a dry run, or a deploy into a HOLDFAST_ROOT this user may write (tests).
require_root() {
  ((DRY_RUN)) || [[ $(id -u) == 0 ]] && return 0
  if [[ $MODE != setup && -w $HOLDFAST_ROOT ]]; then return 0; fi
  die "run it as root (sudo $0 $*), or add --dry-run"
}

check_set_up() {
  local problem="" missing
  [[ -f $ENV_FILE ]] || problem="$ENV_FILE does not exist"
  [[ -d $SHARED/instance ]] || problem="$SHARED/instance does not exist"
  if [[ -n $problem ]]; then
    ((DRY_RUN)) || die "$problem: set this droplet up first (deploy.sh --setup)"
    note "($problem: without --dry-run, deploy.sh would stop here)"
  elif [[ -r $ENV_FILE ]]; then
    missing=$(settings_to_fill | paste -sd ';' -)
    [[ -z $missing ]] || warn "still empty in $ENV_FILE (the shop may refuse to start): $missing"
  fi
}

choose_source() {
  [[ -n $REPO ]] || REPO=$(setting HOLDFAST_REPO)
  [[ -n $REF ]] || REF=$(setting HOLDFAST_REF)
  REF=${REF:-main}
  if [[ -n $SOURCE ]]; then
    [[ -e $SOURCE ]] || die "--from $SOURCE: no such file or directory"
    SOURCE=$(realpath "$SOURCE")
  elif [[ -z $REPO ]]; then
    die "nothing to deploy: give --repo URL (or HOLDFAST_REPO in $ENV_FILE), or --from PATH"
  fi
}

new_release_name() {
  local name
  local commit=$COMMIT
  [[ ! $COMMIT =~ ^[0-9a-f]{40}$ ]] || commit=${COMMIT:0:12}
  name="$(date -u +%Y%m%dT%H%M%SZ)-$commit"
  while [[ -e $RELEASES/$name ]]; do name+=+; done
  echo "$name"
}

# If anything fails before the switch, shoppers never saw the new release: remove it.
abandon_unfinished_release() {
  local status=$? serving
  serving=$(current_release)
  if ((status != 0)) && [[ -d $RELEASE && $serving != "$(basename "$RELEASE")" ]]; then
    printf 'deploy.sh: stopped before the switch: %s serves as before. Removing %s\n' \
      "${serving:-no release (none was deployed)}" "$RELEASE" >&2
    rm -rf "$RELEASE"
  fi
}

deploy() {
  local name
  check_set_up
  choose_source
  resolve_commit
  name=$(new_release_name)
  RELEASE=$RELEASES/$name
  say "Deploy release $name"
  run mkdir -p "$RELEASE"
  ((DRY_RUN)) || trap abandon_unfinished_release EXIT
  fetch_code
  build_release
  migrate
  switch_to "$name"
  trap - EXIT
  if ! restart_services "$name" || ! healthy; then
    rollback_after_failed_check "$name"
  fi
  say "Keep the newest $KEEP releases"
  prune_releases
  say "Done: $name serves"
}

rollback() {
  local previous
  [[ -n $(current_release) ]] || die "nothing is deployed: $CURRENT is not a symlink"
  previous=$(previous_release)
  [[ -n $previous ]] || die "no release older than $(current_release) to go back to"
  switch_to "$previous"
  restart_services "$previous" || die "$previous did not restart: journalctl -u holdfast-web -n 100"
  healthy || die "$previous does not answer /health/ready: journalctl -u holdfast-web -n 100"
  say "Done: $previous serves again. Migrations are forward-only: the database keeps the newer
    schema, which $previous runs on (fine while migrations only add; docs/RUNBOOK.md)."
}

clean() {
  say "Remove releases beyond the newest $KEEP (never the current one)"
  prune_releases
  say "Remove the pip and npm download caches"
  run rm -rf "${CACHE:?}/pip" "${CACHE:?}/npm"
  say "Remove deploy logs older than 30 days"
  ((DRY_RUN)) || [[ -d $LOGS ]] || return 0
  run find "$LOGS" -name 'deploy-*.log' -mtime +30 -delete
}

# ------------------------------------------------------------------------------- set-up

setup_packages() {
  local packages=(python3 python3-venv git curl ca-certificates openssl nginx certbot
    python3-certbot-nginx nodejs npm ufw)
  if ((APP_ONLY)); then
    packages+=(postgresql-client) # pg_dump for the backups; no server, no Redis
  else
    packages+=(postgresql redis-server)
  fi
  say "Install the packages"
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
}

# Redis's append-only file keeps delayed retries across a restart (docs/RELIABILITY.md).
setup_redis() {
  ((APP_ONLY)) && return 0
  say "Redis: append-only file on"
  if ((DRY_RUN)) || ! grep -q '^appendonly yes' /etc/redis/redis.conf; then
    run sed -i 's/^appendonly no$/appendonly yes/' /etc/redis/redis.conf
    run systemctl restart redis-server
  fi
}

setup_user_and_dirs() {
  say "System user $APP_USER and the folders"
  if ! id -u "$APP_USER" >/dev/null 2>&1; then
    run useradd --system --user-group --home-dir "$HOLDFAST_ROOT" --no-create-home \
      --shell /usr/sbin/nologin "$APP_USER"
  fi
  run install -d -m 0755 "$HOLDFAST_ROOT" "$RELEASES" "$SHARED" "$CACHE"
  run install -d -m 0750 "$LOGS"
  run install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$SHARED/instance" "$SHARED/backups" \
    "$SHARED/metrics"
  run install -d -m 0750 -g "$APP_USER" "$HOLDFAST_ETC"
  say "The \`holdfast\` command: flask commands as $APP_USER with the shop's settings"
  render "$HERE/deploy/holdfast-command" "$BIN_DIR/holdfast" 0755 "" -- \
    "__BIN_DIR__=$BIN_DIR" "__ENV_FILE__=$ENV_FILE" "__HOLDFAST_ROOT__=$HOLDFAST_ROOT" \
    "__HOLDFAST_ETC__=$HOLDFAST_ETC" "__USER__=$APP_USER"
}

setup_env_file() {
  say "Settings: $ENV_FILE"
  if [[ -e $ENV_FILE ]]; then
    note "$ENV_FILE exists: kept as it is (deploy.sh never overwrites it)"
    return 0
  fi
  local db_url=$DB_URL redis_url=$REDIS
  if ! ((APP_ONLY)); then
    db_url="postgresql://$APP_USER:$(random_hex 24)@127.0.0.1:5432/$APP_USER"
    redis_url=redis://127.0.0.1:6379/0
  fi
  render "$HERE/deploy/holdfast.env.template" "$ENV_FILE" 0640 "$APP_USER" -- \
    "__SECRET_KEY__=$(random_hex 32)" "__DATABASE_URL__=$db_url" "__REDIS_URL__=$redis_url" \
    "__DOMAIN__=$DOMAIN" "__EMAIL__=$EMAIL" "__SHARED__=$SHARED" "__REPO__=$REPO" \
    "__REF__=${REF:-main}" "__ENV_FILE__=$ENV_FILE" "__UPSTREAM__=$UPSTREAM"
}

# The role and database named in DATABASE_URL, with its password: each statement only does
# what is missing, so a second --setup changes nothing.
setup_database() {
  ((APP_ONLY)) && return 0
  say "PostgreSQL: the role and database of DATABASE_URL"
  local url
  url=$(setting DATABASE_URL)
  if ((DRY_RUN)) && [[ -z $url ]]; then
    url="postgresql://$APP_USER:<secret>@127.0.0.1:5432/$APP_USER"
  fi
  if ! [[ $url =~ ^postgres(ql)?(\+psycopg)?://([A-Za-z0-9_]+):([^@/\']+)@(127\.0\.0\.1|localhost)(:5432)?/([A-Za-z0-9_]+)$ ]]; then
    note "DATABASE_URL is not postgresql://USER:PASSWORD@127.0.0.1:5432/DB: its database is not made here"
    return 0
  fi
  local user=${BASH_REMATCH[3]} password=${BASH_REMATCH[4]} db=${BASH_REMATCH[7]}
  printf '+ %s <<SQL\n%s\nSQL\n' "$(quote runuser -u postgres -- psql -v ON_ERROR_STOP=1 --quiet)" \
    "$(database_sql "$user" '<secret>' "$db")"
  ((DRY_RUN)) || database_sql "$user" "$password" "$db" | runuser -u postgres -- psql -v ON_ERROR_STOP=1 --quiet
}

database_sql() {
  local user=$1 password=$2 db=$3
  cat <<SQL
SELECT 'CREATE ROLE "$user" LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user')\\gexec
ALTER ROLE "$user" WITH LOGIN PASSWORD '$password';
SELECT 'CREATE DATABASE "$db" OWNER "$user"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec
SQL
}

install_units() {
  say "systemd units into $SYSTEMD_DIR"
  local unit values
  mapfile -t values < <(unit_values)
  for unit in holdfast-web.socket holdfast-web.service holdfast-worker.service \
    holdfast-backup.service holdfast-backup.timer; do
    render "$HERE/deploy/$unit" "$SYSTEMD_DIR/$unit" 0644 "" -- "${values[@]}"
  done
  if ((CRON)); then
    render "$HERE/deploy/holdfast-cron.service" "$SYSTEMD_DIR/holdfast-cron.service" 0644 "" -- "${values[@]}"
  elif ((DRY_RUN)) || [[ -e $SYSTEMD_DIR/holdfast-cron.service ]]; then
    note "--no-cron: another server runs the periodic jobs"
    run systemctl disable --now holdfast-cron.service
    run rm -f "$SYSTEMD_DIR/holdfast-cron.service"
  fi
  run systemctl daemon-reload
  local enable=(holdfast-web.socket holdfast-web.service holdfast-worker.service holdfast-backup.timer)
  ((CRON)) && enable+=(holdfast-cron.service)
  run systemctl enable "${enable[@]}"
  run systemctl start holdfast-backup.timer
}

# The certificate nginx/holdfast.conf names in __CERT_DIR__. Let's Encrypt's: certbot's
# webroot challenge, answered first by a site of its own (deploy/nginx-acme.conf), at each
# renewal (certbot.timer) by holdfast.conf's plain-HTTP server; a renewed certificate reloads
# nginx (--deploy-hook). --no-tls: a self-signed one (a test box; browsers warn).
setup_certificate() {
  if ! ((TLS)); then
    say "A self-signed certificate for $DOMAIN in $CERT_DIR (--no-tls)"
    if ((DRY_RUN)) || [[ ! -e $CERT_DIR/fullchain.pem ]]; then
      run install -d -m 0700 "$CERT_DIR"
      run openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$DOMAIN" \
        -keyout "$CERT_DIR/privkey.pem" -out "$CERT_DIR/fullchain.pem"
    fi
    return 0
  fi
  say "Let's Encrypt certificate for $DOMAIN (its DNS A record must point at this droplet)"
  if [[ -e $CERT_DIR/fullchain.pem ]]; then
    note "$CERT_DIR exists: certbot.timer renews it"
    return 0
  fi
  local acme=$NGINX_DIR/sites-enabled/holdfast-acme
  run install -d -m 0755 "$WEBROOT"
  render "$HERE/deploy/nginx-acme.conf" "$acme" 0644 "" -- "__DOMAIN__=$DOMAIN" \
    "__WEBROOT__=$WEBROOT" "__SITE__=$acme"
  run systemctl reload nginx
  run certbot certonly --webroot -w "$WEBROOT" -d "$DOMAIN" -m "$EMAIL" --agree-tos \
    --non-interactive --deploy-hook "systemctl reload nginx"
  run rm -f "$acme"
}

setup_nginx() {
  say "nginx running (its default site answers until ours is in place)"
  run systemctl enable --now nginx
  setup_certificate
  install_site
  run nginx -t
  run systemctl reload nginx
}

install_site() {
  local site=$NGINX_DIR/sites-available/holdfast
  say "nginx site $site (from nginx/holdfast.conf); the default site off"
  render "$HERE/nginx/holdfast.conf" "$site" 0644 "" -- "__DOMAIN__=$DOMAIN" \
    "__APP_DIR__=$CURRENT" "__UPSTREAM__=$UPSTREAM" "__HTTP_PORT__=80" "__HTTPS_PORT__=443" \
    "__CERT_DIR__=$CERT_DIR"
  run ln -sfn "$site" "$NGINX_DIR/sites-enabled/holdfast"
  run rm -f "$NGINX_DIR/sites-enabled/default"
}

# OpenSSH is port 22: an sshd listening elsewhere needs `ufw allow PORT/tcp` before this.
setup_firewall() {
  say "Firewall: SSH, HTTP and HTTPS only"
  run ufw allow OpenSSH
  run ufw allow 80/tcp
  run ufw allow 443/tcp
  run ufw --force enable
}

ask() {
  local var=$1 question=$2 flag=$3 answer
  [[ -z ${!var} ]] || return 0
  [[ -t 0 ]] || die "$flag is needed (or run it in a terminal to be asked)"
  read -rp "$question: " answer
  printf -v "$var" '%s' "$answer"
}

setup_questions() {
  ask DOMAIN "The shop's domain name (its DNS A record points here)" --domain
  ask EMAIL "The owner's email (Let's Encrypt's expiry notices, alerts)" --email
  [[ $DOMAIN =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "--domain $DOMAIN is not a domain name"
  [[ $EMAIL =~ ^[^[:space:]@\'\"|]+@[A-Za-z0-9.-]+$ ]] || die "--email $EMAIL is not an email address"
  [[ -n $REPO ]] || REPO=$(git -c safe.directory="$HERE" -C "$HERE" remote get-url origin 2>/dev/null || true)
  if ((APP_ONLY)) && [[ ! -e $ENV_FILE ]]; then
    ask DB_URL "DATABASE_URL of the external Postgres" --database-url
    ask REDIS "REDIS_URL of the external Redis" --redis-url
  fi
}

setup() {
  setup_questions
  CERT_DIR=/etc/letsencrypt/live/$DOMAIN
  ((TLS)) || CERT_DIR=$HOLDFAST_ETC/tls
  setup_packages
  setup_redis
  setup_user_and_dirs
  setup_env_file
  setup_database
  install_units
  setup_nginx
  setup_firewall
  local missing line
  missing=$(settings_to_fill)
  if [[ -z $REPO$SOURCE && -z $(setting HOLDFAST_REPO) ]]; then
    missing+=$'\nHOLDFAST_REPO: the git URL deploys fetch (or deploy with --from DIR)'
  fi
  if ((DRY_RUN)) || [[ -n $missing ]]; then
    say "Set-up done. Fill in, in $ENV_FILE, what only you know:"
    while IFS= read -r line; do note "- $line"; done <<<"$missing"
    note "then deploy the first release: sudo $0"
  elif [[ -n $(current_release) ]]; then
    say "Set-up done; $(current_release) serves (a plain sudo $0 deploys a new release)"
  else
    deploy
  fi
}

# ------------------------------------------------------------------------------- main

parse_args() {
  while (($#)); do
    case $1 in
      --setup) MODE=setup ;;
      --rollback) MODE=rollback ;;
      --clean) MODE=clean ;;
      --flask)
        MODE=flask
        shift
        FLASK_ARGS=("$@")
        return 0
        ;;
      --dry-run) DRY_RUN=1 ;;
      --app-only) APP_ONLY=1 ;;
      --no-cron) CRON=0 ;;
      --no-tls) TLS=0 ;;
      --no-backup) BACKUP=0 ;;
      --domain | --email | --repo | --ref | --from | --venv | --keep | --database-url | --redis-url)
        (($# >= 2)) || die "$1 needs a value"
        set_option "$1" "$2"
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown option $1 (deploy.sh --help lists them)" ;;
    esac
    shift
  done
  [[ $KEEP =~ ^[1-9][0-9]*$ ]] || die "--keep must be a whole number of at least 1"
}

set_option() {
  case $1 in
    --domain) DOMAIN=$2 ;;
    --email) EMAIL=$2 ;;
    --repo) REPO=$2 ;;
    --ref) REF=$2 ;;
    --from) SOURCE=$2 ;;
    --venv) VENV=$2 ;;
    --keep) KEEP=$2 ;;
    --database-url) DB_URL=$2 ;;
    --redis-url) REDIS=$2 ;;
  esac
}

# --flask: a flask command in the current release, as the shop's user, with its settings read
# as systemd reads them (no `source`). Prints nothing of its own, so its output can be piped.
flask_command() {
  [[ -n $(current_release) ]] || die "nothing is deployed: $CURRENT is not a symlink"
  local cmd=("$CURRENT/.venv/bin/flask" --app wsgi "${FLASK_ARGS[@]}")
  [[ $(id -un) == "$APP_USER" ]] || cmd=(runuser -u "$APP_USER" -- "${cmd[@]}")
  if ((DRY_RUN)); then
    printf '+ cd %s && %s    # settings from %s\n' "$(quote "$CURRENT")" "$(quote "${cmd[@]}")" "$ENV_FILE"
    return 0
  fi
  cd "$CURRENT" && export_settings && exec "${cmd[@]}"
}

main() {
  parse_args "$@"
  if [[ $MODE == flask ]]; then
    flask_command
    return
  fi
  require_root "$@"
  ((DRY_RUN)) && printf 'deploy.sh --dry-run: printing every command, running none.\n'
  take_lock
  start_log
  case $MODE in
    setup) setup ;;
    deploy) deploy ;;
    rollback) rollback ;;
    clean) clean ;;
  esac
}

# Run when executed; only define the functions when sourced (the tests render the units so).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
