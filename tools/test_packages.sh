#!/bin/sh
# The test-only Debian packages, apart from the user's set-up (tools/install_deps.sh): chromium, in
# which tests/cli_report.sh renders the run report (without it that test is skipped, exit 77). Run
# as root or with sudo available, before ctest. When tools/test.sh (the test command with its own
# package list) lands, these join its list and this file goes.
set -eu
TEST_PACKAGES="chromium"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $TEST_PACKAGES
