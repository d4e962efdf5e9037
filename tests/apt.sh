# Sourced by the test scripts: `need_command CMD PACKAGE` installs Debian's PACKAGE when CMD is
# missing (as root, or through sudo), trying without `apt-get update` first.
need_command() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
}
