#!/bin/sh
# dracut_root.sh DIR: Debian 12's dracut (dracut-core, dracut, dracut-network)
# unpacked into DIR, for tests/vm/t_dracut. dracut conflicts with
# initramfs-tools as a package, which the other boot test needs, so it is
# never installed: 'apt-get download' and 'dpkg -x'. Run by build.sh check
# (where the network is) and by the test before it enters its namespace; a
# DIR already made is kept. On failure, prints one line saying why on
# stdout and exits 1 (the test skips with it).
set -u
DIR=$1
PKGS="dracut-core dracut dracut-network"

[ -x "$DIR/usr/bin/dracut" ] && [ -f "$DIR/.complete" ] && exit 0
command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
	{ echo "no apt-get/dpkg to fetch Debian's dracut"; exit 1; }
tmp=$DIR.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp/debs" "$tmp/root"
# apt's sandbox user must be able to write the download directory.
chmod 0777 "$tmp/debs"
fetch() { (cd "$tmp/debs" && apt-get download -q $PKGS) >"$tmp/apt.log" 2>&1; }
if ! fetch; then
	apt-get update -qq >/dev/null 2>&1
	fetch || {
		echo "apt-get download $PKGS failed: $(grep -m 1 -E '^(E|Err):' "$tmp/apt.log")"
		rm -rf "$tmp"
		exit 1
	}
fi
for deb in "$tmp"/debs/*.deb; do
	dpkg -x "$deb" "$tmp/root" || { echo "dpkg -x $deb failed"; rm -rf "$tmp"; exit 1; }
done
(cd "$tmp/debs" && ls) >"$tmp/root/.complete"
rm -rf "$DIR"
mv "$tmp/root" "$DIR" && rm -rf "$tmp"
