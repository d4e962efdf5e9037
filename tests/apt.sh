# Sourced by the test scripts: `need_command CMD PACKAGE` installs Debian's PACKAGE when CMD is
# missing; `need_package PACKAGE` installs it when it is not installed (data packages such as
# fonts, which have no command to look for). As root, or through sudo; `apt-get update` only
# when the first try fails.
apt_install() {
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null; }
}
need_command() {
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}
need_package() {
  dpkg -s "$1" >/dev/null 2>&1 || apt_install "$1"
}
