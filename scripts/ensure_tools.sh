#!/usr/bin/env bash
# The machine tools the suite drives, from Debian's packages, installed when missing:
# chromium (browser tests, /usr/bin/chromium), nginx (the production proxy, served for real in
# tests/integration/test_nginx*.py and checked with nginx -t), shellcheck (deploy.sh) and
# PostgreSQL's client tools (pg_dump/pg_restore for `flask holdfast backup`) and systemd's
# systemd-analyze (deploy/'s units are verified; no systemd needs to run).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
command -v systemd-analyze >/dev/null || missing+=(systemd) # verifies deploy/'s units
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "missing ${missing[*]} and cannot install them here (no root, no sudo)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "missing ${missing[*]}: install them with your system's package manager" >&2
  exit 0
fi
echo "installing Debian's ${missing[*]} for the test suite"
"${sudo[@]}" apt-get update -qq
# policy-rc.d 101: the package must not start an nginx of its own on port 80.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
