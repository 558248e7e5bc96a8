#!/usr/bin/env bash
# Install the system packages cronctl's tests, demo and benchmarks need (Debian/Ubuntu).
# Idempotent: does nothing when everything is already present.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_BINDIR="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_LIBDIR="/usr/lib/postgresql/${PG_MAJOR}/lib"

missing=()
[ -x "${PG_BINDIR}/initdb" ] && [ -x "${PG_BINDIR}/pg_ctl" ] || missing+=("postgresql-${PG_MAJOR}")
[ -f "${PG_LIBDIR}/pg_cron.so" ] || missing+=("postgresql-${PG_MAJOR}-cron")
command -v redis-server >/dev/null 2>&1 || missing+=("redis-server")
command -v make >/dev/null 2>&1 || missing+=("make")
# Debian splits venv support (ensurepip) out of python3.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=("python3-venv")

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-system-deps: missing ${missing[*]}; run as root or install sudo, then retry" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
