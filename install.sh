#!/bin/sh
# Installs or upgrades hivemind-rendezvous from a GitHub release (64-bit Linux: x86_64 or aarch64).
#
#   curl -fsSL https://github.com/OWNER/hivemind-rendezvous/releases/latest/download/install.sh | sudo sh
#   curl -fsSL …/install.sh | sudo sh -s -- --service      # also run it as a systemd service
#
# Options:
#   --service         create the system user hivemind-rendezvous, install the systemd unit, enable and (re)start it
#   --prefix DIR      install to DIR/bin (default /usr/local)
#   --base-url URL    where the release files are, https:// (http:// only on this machine; default the
#                     latest GitHub release; in the copy attached to a release, that release)
#   --allow-downgrade install a release older than the installed one (it cannot read a data dir a newer
#                     release wrote: see docs/deploy.md)
# Environment: HIVEMIND_RENDEZVOUS_BASE_URL, HIVEMIND_RENDEZVOUS_PREFIX (same as the flags);
# HIVEMIND_RENDEZVOUS_ARCH replaces `uname -m` and HIVEMIND_RENDEZVOUS_UNIT_DIR replaces
# /etc/systemd/system (the tests use both).
#
# It downloads the binary for this CPU and SHA256SUMS, refuses a binary whose checksum does not
# match, and replaces the installed binary in one rename. Running it again upgrades in place: the
# data directory (/var/lib/hivemind-rendezvous for the service) and the relay key are never touched.
set -eu

DEFAULT_BASE_URL=https://github.com/OWNER/hivemind-rendezvous/releases/latest/download
NAME=hivemind-rendezvous
SERVICE_USER=hivemind-rendezvous
STATE_DIR=/var/lib/hivemind-rendezvous

say() { printf '%s\n' "install.sh: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
  cat <<EOF
Usage: install.sh [--service] [--prefix DIR] [--base-url URL] [--allow-downgrade]
  --service          create the user $SERVICE_USER, install the systemd unit, enable and (re)start it
  --prefix DIR       install to DIR/bin (default /usr/local)
  --base-url URL     where the release files are (default $DEFAULT_BASE_URL)
  --allow-downgrade  install a release older than the installed one
EOF
}

# The release's name for this machine's CPU, or a refusal.
release_arch() {
  machine=${HIVEMIND_RENDEZVOUS_ARCH:-$(uname -m)}
  case "$machine" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64)
      # A 64-bit kernel can run a 32-bit (armhf) userland, which cannot run the arm64 binary.
      if [ "$(getconf LONG_BIT 2>/dev/null || echo 64)" = 32 ]; then
        die "this is a 32-bit system on a 64-bit CPU ($machine): hivemind-rendezvous needs 64-bit Linux; on a Raspberry Pi install the 64-bit Raspberry Pi OS"
      fi
      echo arm64 ;;
    armv6l | armv7l | armv8l | armhf | arm | i386 | i486 | i586 | i686 | x86)
      die "$machine is 32-bit: hivemind-rendezvous needs 64-bit Linux (x86_64 or aarch64); on a Raspberry Pi install the 64-bit Raspberry Pi OS" ;;
    *)
      die "unsupported CPU $machine: release binaries exist for x86_64 and aarch64 only" ;;
  esac
}

# download URL FILE
download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1" || die "could not download $1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" || die "could not download $1"
  else
    die "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    die "neither sha256sum nor shasum is installed: the download cannot be checked, nothing was installed"
  fi
}

# older A B: true when version A (X.Y.Z) is below version B.
older() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, "."); split(b, y, ".")
    for (i = 1; i <= 3; i++) { if (x[i] + 0 < y[i] + 0) exit 0; if (x[i] + 0 > y[i] + 0) exit 1 }
    exit 1
  }'
}

# verify DIR FILE: FILE's SHA-256 must be the one DIR/SHA256SUMS lists for it.
verify() {
  expected=$(awk -v file="$2" '$2 == file || $2 == "*" file { print $1; exit }' "$1/SHA256SUMS")
  [ -n "$expected" ] || die "SHA256SUMS lists no $2: nothing was installed"
  actual=$(sha256_of "$1/$2")
  [ "$actual" = "$expected" ] || die "checksum mismatch for $2 (expected $expected, got $actual): nothing was installed"
}

# The service needs systemd running as init; say so plainly when it is not.
require_systemd() {
  command -v systemctl >/dev/null 2>&1 || die "--service needs systemd, and systemctl is not installed: nothing was installed"
  systemctl show-environment >/dev/null 2>&1 \
    || die "--service needs systemd, and it is not running here (systemctl cannot reach it): nothing was installed"
}

# Whether the installed unit starts the binary at $1 (not one under another prefix).
service_runs() {
  unit=${HIVEMIND_RENDEZVOUS_UNIT_DIR:-/etc/systemd/system}/$NAME.service
  [ -f "$unit" ] && [ "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" | sed -n '$p')" = "$1" ]
}

install_service() {
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "$SERVICE_USER" \
      || die "could not create the user $SERVICE_USER"
    say "created the system user $SERVICE_USER"
  fi
  mkdir -p "$unit_dir"
  sed "s|^ExecStart=.*|ExecStart=$bin_dir/$NAME|" "$tmp/$NAME.service" > "$unit_dir/$NAME.service.new"
  chmod 0644 "$unit_dir/$NAME.service.new"
  mv -f "$unit_dir/$NAME.service.new" "$unit_dir/$NAME.service"
  say "wrote $unit_dir/$NAME.service"
  systemctl daemon-reload
  systemctl enable "$NAME" >/dev/null || die "systemctl enable $NAME failed"
  systemctl restart "$NAME" || die "systemctl restart $NAME failed: see journalctl -u $NAME"
  # restart returns once the process is started: a relay that stops at start-up (a port in use, a bad
  # setting) is seen a moment later.
  sleep 2
  systemctl is-active --quiet "$NAME" || die "the service $NAME did not stay up: see journalctl -u $NAME"
  say "started the service $NAME (data in $STATE_DIR): systemctl status $NAME"
}

main() {
  base_url=${HIVEMIND_RENDEZVOUS_BASE_URL:-$DEFAULT_BASE_URL}
  prefix=${HIVEMIND_RENDEZVOUS_PREFIX:-/usr/local}
  service=no
  allow_downgrade=no
  while [ $# -gt 0 ]; do
    case "$1" in
      --service) service=yes ;;
      --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift ;;
      --prefix=*) prefix=${1#*=} ;;
      --base-url) [ $# -ge 2 ] || die "--base-url needs a URL"; base_url=$2; shift ;;
      --base-url=*) base_url=${1#*=} ;;
      --allow-downgrade) allow_downgrade=yes ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option $1" ;;
    esac
    shift
  done
  base_url=${base_url%/}
  # A relative prefix is taken from here: the messages, and a unit's ExecStart=, need the whole path.
  case "$prefix" in
    /*) ;;
    *) prefix=$PWD/$prefix ;;
  esac
  # SHA256SUMS comes by the same way as the binary: over plain http, both could be replaced on the way.
  case "$base_url" in
    https://*) ;;
    http://127.0.0.1 | http://127.0.0.1[:/]* | http://localhost | http://localhost[:/]* | http://\[::1\] | http://\[::1\][:/]*) ;;
    *) die "the base URL must be https:// (or http:// on this machine), got $base_url: nothing was installed" ;;
  esac
  bin_dir=$prefix/bin
  target=$bin_dir/$NAME

  [ "$(uname -s)" = Linux ] || die "$(uname -s) is not supported: release binaries are for Linux"
  arch=$(release_arch)
  if [ "$service" = yes ]; then
    # The unit's ExecStart= takes the path as it is, and its ProtectHome= hides /home, /root and /run/user.
    case "$bin_dir" in
      *[!A-Za-z0-9/._-]*) die "--service needs a --prefix of letters, digits and / . _ - only (got $prefix): nothing was installed" ;;
      /home/* | /root/* | /run/user/*) die "--service cannot run a binary under $prefix (the unit hides /home, /root and /run/user): use the default prefix" ;;
    esac
    require_systemd
    unit_dir=${HIVEMIND_RENDEZVOUS_UNIT_DIR:-/etc/systemd/system}
    { mkdir -p "$unit_dir" && [ -w "$unit_dir" ]; } 2>/dev/null \
      || die "--service writes $unit_dir/$NAME.service and creates a user: run it as root (… | sudo sh): nothing was installed"
  fi
  mkdir -p "$bin_dir" 2>/dev/null && [ -w "$bin_dir" ] \
    || die "cannot write to $bin_dir: run it as root (… | sudo sh) or choose --prefix"

  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "$bin_dir/.$NAME.new"' EXIT
  trap 'exit 1' HUP INT TERM
  binary=$NAME-linux-$arch
  say "downloading $binary from $base_url"
  download "$base_url/SHA256SUMS" "$tmp/SHA256SUMS"
  download "$base_url/$binary" "$tmp/$binary"
  verify "$tmp" "$binary"
  if [ "$service" = yes ]; then
    download "$base_url/$NAME.service" "$tmp/$NAME.service"
    verify "$tmp" "$NAME.service"
  fi
  # Copied beside the target (later renamed over it: a running relay keeps its old file until restarted),
  # and run from there: the temp dir may be on a noexec mount (a hardened /tmp), the target's may not.
  cp "$tmp/$binary" "$bin_dir/.$NAME.new" || die "cannot write to $bin_dir: nothing was installed"
  chmod 0755 "$bin_dir/.$NAME.new"
  new_version=$("$bin_dir/.$NAME.new" --version) || die "the downloaded $binary does not run on this machine: nothing was installed"

  old_version=
  [ -x "$target" ] && old_version=$("$target" --version 2>/dev/null || echo unknown)
  if [ "$allow_downgrade" = no ] && [ -n "$old_version" ] && older "$new_version" "$old_version"; then
    die "$new_version is older than the installed $old_version, which may have written a data dir $new_version cannot read: nothing was installed (--allow-downgrade to install it anyway)"
  fi
  mv -f "$bin_dir/.$NAME.new" "$target"
  if [ -z "$old_version" ]; then
    say "installed $target $new_version"
  elif [ "$old_version" = "$new_version" ]; then
    say "reinstalled $target $new_version"
  elif older "$new_version" "$old_version"; then
    say "downgraded $target from $old_version to $new_version"
  else
    say "upgraded $target from $old_version to $new_version"
  fi

  if [ "$service" = yes ]; then
    install_service
  elif [ -n "$old_version" ] && [ "$old_version" != "$new_version" ] && service_runs "$target"; then
    say "the service still runs $old_version until: sudo systemctl restart $NAME"
  fi
}

main "$@"
