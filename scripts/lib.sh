# shellcheck shell=bash
# Helpers shared by scripts/bootstrap, scripts/run, scripts/test and .ci/run.
# Source it; it does nothing on its own.

# Debian packages whose libraries WeasyPrint 70 opens at run time (its wheel
# bundles no C libraries): GObject, Pango and its FreeType backend, HarfBuzz
# (subsetting embeds only the glyphs used in a PDF), Fontconfig, and one font
# family to render with.
# The Dockerfile installs the same list.
# shellcheck disable=SC2034 # used by the scripts that source this file
WEASYPRINT_DEBS=(
  libglib2.0-0
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz0b
  libharfbuzz-subset0
  libfontconfig1
  fonts-dejavu-core
)

# What the test suite drives for real: browser tests (Playwright on Debian's
# Chromium), a PostgreSQL and a Redis server, and wrk for the benchmarks.
# shellcheck disable=SC2034
TEST_DEBS=(chromium postgresql redis-server wrk)

log() {
  if [ -t 1 ]; then printf '\033[1m==> %s\033[0m\n' "$*"; else printf '==> %s\n' "$*"; fi
}
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# as_root CMD...: run CMD as root, through sudo when we are not root.
# Without a terminal (CI) sudo must not wait for a password nobody will type.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
  else
    return 1
  fi
}

deb_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

# ensure_debs PKG...: install the packages that are not installed yet.
ensure_debs() {
  if ! command -v dpkg >/dev/null 2>&1; then
    warn "not a Debian system: cannot check for $*; install their equivalents yourself."
    return 0
  fi
  local missing=() pkg
  for pkg in "$@"; do
    deb_installed "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  log "Installing Debian packages: ${missing[*]}"
  if ! as_root true 2>/dev/null; then
    die "missing Debian packages: ${missing[*]}.
Run this as root or with sudo available, or install them first:
  apt-get install ${missing[*]}"
  fi
  # The package lists are refreshed once per run, only when something is missing.
  if [ -z "${_APT_UPDATED:-}" ]; then
    as_root apt-get update -q
    _APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get could not install: ${missing[*]}"
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
