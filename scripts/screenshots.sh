#!/usr/bin/env bash
# Saves a picture of every screen of the desktop app into docs/screenshots/ (NAME.png, one per
# tab, and overview.png, all of them on one sheet), with a fresh library holding the demo run.
# The app runs under Xvfb; it shows each screen in turn (QLORA_TOUR=1: "screen NAME" on its
# stdout, the next screen when a line comes on its stdin) and ImageMagick's import takes the
# window as X drew it.
#
# Usage: scripts/screenshots.sh [OUT_DIR]      (installs xvfb and imagemagick when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}

need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v import >/dev/null || need+=(imagemagick)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

make -s build studio
work=$(mktemp -d)
display=:$((90 + RANDOM % 100))
trap 'kill $xvfb 2>/dev/null; rm -rf "$work"' EXIT
bin/qlora demo --library "$work/library" >"$work/demo.log" 2>&1 || {
	cat "$work/demo.log" >&2
	exit 1
}

Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
sleep 1
mkdir -p "$out"
coproc APP { DISPLAY=$display QLORA_LIBRARY=$work/library QLORA_TOUR=1 LANG=C.UTF-8 bin/qlora-studio 2>"$work/app.log"; }
app=$APP_PID # bash unsets APP_PID once the app has ended
shots=()
while read -r -u "${APP[0]}" word name; do
	[ "$word" = screen ] || continue
	import -display "$display" -window "QLoRA Studio" "$out/$name.png"
	shots+=("$out/$name.png")
	echo next >&"${APP[1]}"
done
wait "$app" || {
	cat "$work/app.log" >&2
	exit 1
}
montage "${shots[@]}" -tile 4x -geometry 480x320+6+6 -background '#202020' "PNG8:$out/overview.png" # 256 colours: a small file
echo "screenshots: ${#shots[@]} screens in $out (and overview.png)"
