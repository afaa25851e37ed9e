# Shared by scripts/serve and scripts/test: a project virtualenv and Debian packages on demand.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TAGTRAIL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# How long apt_get waits for another apt or dpkg (unattended-upgrades, a second scripts/test).
APT_LOCK_TIMEOUT="${TAGTRAIL_APT_LOCK_TIMEOUT:-600}"
APT_LOCK_POLL="${TAGTRAIL_APT_LOCK_POLL:-5}"

# apt_get ARGS...: apt-get as root that waits, up to APT_LOCK_TIMEOUT seconds, for the locks
# another apt or dpkg holds instead of failing. DPkg::Lock::Timeout makes apt itself wait for
# the dpkg lock (install), but `apt-get update` still fails at once on the lists lock (apt
# 2.6), so a failure that names a lock is retried until the deadline.
apt_get() {
    local deadline=$((SECONDS + APT_LOCK_TIMEOUT)) errors status
    errors="$(mktemp)"
    while true; do
        status=0
        as_root env LC_ALL=C DEBIAN_FRONTEND=noninteractive ${APT_CONFIG:+APT_CONFIG="$APT_CONFIG"} \
            apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" "$@" 2>"$errors" || status=$?
        if [ "$status" -eq 0 ] || ! grep -q "Could not get lock" "$errors" \
            || [ "$SECONDS" -ge "$deadline" ]; then
            cat "$errors" >&2
            rm -f "$errors"
            return "$status"
        fi
        echo "waiting for another apt or dpkg to finish: $(grep -m1 'Could not get lock' "$errors")" >&2
        sleep "$APT_LOCK_POLL"
    done
}

# apt_ensure PACKAGE...: install the Debian packages that are not installed yet.
apt_ensure() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}" >&2
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ensure_venv EXTRAS: create the virtualenv and (re)install the project when pyproject changed.
ensure_venv() {
    local extras="${1:-}"
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "tagtrail needs Python 3.11 or newer as $PYTHON" >&2
        exit 1
    fi
    # Debian ships venv without ensurepip until python3-venv is installed.
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_ensure python3-venv
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.tagtrail-installed" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)[$extras]"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}" >&2
        echo "$want" > "$stamp"
    fi
}
