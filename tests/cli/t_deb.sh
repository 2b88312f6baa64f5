#! @ATF_SH@
# The Debian package (debian/): dpkg-buildpackage builds it from a clean copy
# of the source tree, and the .deb holds what 'make install' installs, where
# Debian wants it: the commands, the token plugin in libcryptsetup's plugin
# directory, the boot pieces, man pages, bash completion, the configuration
# as a conffile and a root-only /var/lib/securekey.
#
# Nothing is installed on this host: dpkg --root installs the package into
# ./root, with a database of its own that knows the host's packages (the
# host's dpkg database, /usr and /etc stay as they are). Its
# commands enroll a LUKS2 image file, and the real cryptsetup shows and
# unlocks the token through the packaged plugin, bind-mounted over
# libcryptsetup's plugin directory in a private mount namespace (./pcs of
# devices.sh). Hence root.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. @abs_top_srcdir@/tests/cli/common.sh

. @abs_top_srcdir@/tests/cli/devices.sh

# ac_version: the version in configure.ac's AC_INIT.
ac_version()
{
	sed -n 's/^AC_INIT(\[securekey\], *\[\([^]]*\)\].*/\1/p' "$SK_SRCDIR/configure.ac"
}

# copy_tree DIR: the source tree into DIR as git sees it: tracked files and
# untracked ones that are not ignored (debian/ or a man page not committed
# yet come along; build directories, autom4te.cache and the generated files
# do not). Without git, a copy that leaves out what .gitignore lists.
copy_tree()
{
	mkdir -p "$1"
	if command -v git >/dev/null &&
		[ "$(git -C "$SK_SRCDIR" rev-parse --show-prefix 2>/dev/null)" = "" ] &&
		git -C "$SK_SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
		# --ignore-failed-read: a tracked file deleted in the work tree.
		(cd "$SK_SRCDIR" && git ls-files -z --cached --others --exclude-standard |
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$1"
	else
		tar -C "$SK_SRCDIR" --exclude=./.git --exclude=./build --exclude='./build-*' \
			--exclude=autom4te.cache --exclude=./configure --exclude='./configure~' \
			--exclude=./aclocal.m4 --exclude=./config.h.in --exclude='./config.h.in~' \
			--exclude=./build-aux --exclude='./m4/*.m4' --exclude=Makefile.in \
			--exclude=Makefile --exclude=config.status --exclude=config.log \
			--exclude=./config.h --exclude=./libtool --exclude=stamp-h1 \
			--exclude='*.o' --exclude='*.lo' --exclude='*.la' --exclude=.libs \
			--exclude=.deps --exclude=./plugin/tokens --exclude=__pycache__ \
			-cf - . | tar -xf - -C "$1"
	fi
	[ -f "$1/configure.ac" ] && [ -x "$1/debian/rules" ] ||
		atf_fail "copying $SK_SRCDIR to $1 failed"
	[ ! -e "$1/configure" ] && [ ! -e "$1/build" ] ||
		atf_fail "the copy holds generated files or a build directory: $(ls "$1" | tr '\n' ' ')"
}

# has MODE PATH: the package's listing (modes.txt, from dpkg-deb -c) has
# PATH with MODE (as ls -l shows it).
has()
{
	grep -qxF -- "$1 $2" modes.txt ||
		atf_fail "the package has no $2 with mode $1: $(grep -F -- " $2" modes.txt | head -n 1 | grep . || echo absent)"
}

# dpkg_root_init ROOT DEB: an empty dpkg database in ROOT that knows the
# packages DEB depends on as this host has them installed (their records,
# not their files), so that dpkg --root checks DEB's Depends against this
# Debian release and installs it as on a real system, without touching the
# host's own database.
dpkg_root_init()
{
	admin=$1/var/lib/dpkg
	mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
	: >"$admin/status"
	: >"$admin/available"
	for pkg in $(dpkg-deb -f "$2" Depends | tr ',' '\n' | sed 's/[(|].*//; s/[[:space:]]//g'); do
		dpkg-query -s "$pkg" >>"$admin/status" 2>/dev/null ||
			atf_fail "the package depends on $pkg, which this host does not have"
		echo >>"$admin/status"
		: >"$admin/info/$(dpkg-query -W -f='${binary:Package}' "$pkg").list"
	done
}

# man_pages: SECTION NAME of every page man/Makefile.am installs.
man_pages()
{
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$SK_SRCDIR/man/Makefile.am" |
		sed -n 's/^[a-z_]*MANS *+\{0,1\}=//p' | tr ' \t' '\n\n' |
		sed -n 's/^\(.*\)\.\([1-8]\)$/\2 \1.\2/p'
}

atf_test_case build_and_install cleanup
build_and_install_head()
{
	common_head dpkg-buildpackage dpkg-deb dpkg-architecture dpkg-parsechangelog dh \
		dh_autoreconf
	atf_set "timeout" "900"
	atf_set "descr" "dpkg-buildpackage -b builds securekey from a clean copy of the tree;" \
		"the .deb holds every file 'make install' installs, the plugin in" \
		"libcryptsetup's directory, the conffile and a 0700 /var/lib/securekey;" \
		"unpacked, its commands enroll an image and cryptsetup luksDump shows the" \
		"token through its plugin"
}
build_and_install_body()
{
	# dpkg-buildpackage builds its own tree with Debian's flags: the same
	# package whichever build of this tree runs the test (CI time).
	sanitized && atf_skip "the package build runs in the default build (it does not use this" \
		"build's configure options; the sanitizer build checks the C code on the host)"
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	tokendir=/usr/lib/$ma/cryptsetup
	copy_tree src/securekey
	version=$(dpkg-parsechangelog -l src/securekey/debian/changelog -S Version)
	test "${version%-*}" = "$(ac_version)" ||
		atf_fail "debian/changelog's version $version is not configure.ac's $(ac_version)"

	(cd src/securekey && dpkg-buildpackage -us -uc -b) >build.log 2>&1 ||
		{ tail -n 40 build.log >&2; atf_fail "dpkg-buildpackage failed (the end of its log is on stderr)"; }
	deb=$PWD/src/securekey_${version}_$arch.deb
	[ -f "$deb" ] || atf_fail "no $deb: $(ls src | tr '\n' ' ')"

	# -------------------------------------------------- the listing
	dpkg-deb -c "$deb" >contents.txt || atf_fail "dpkg-deb -c $deb failed"
	awk '{ print $1, $6 }' contents.txt >modes.txt
	has -rwxr-xr-x ./usr/sbin/securekey
	has -rwxr-xr-x ./usr/sbin/securekey-cryptsetup
	has -rwxr-xr-x ./usr/lib/securekey/securekey-udev
	has -rwxr-xr-x ./usr/lib/securekey/keyscript
	has -rw-r--r-- ".$tokendir/libcryptsetup-token-securekey.so"
	has -rw-r--r-- ./usr/lib/udev/rules.d/60-securekey.rules
	has -rw-r--r-- ./usr/lib/systemd/system/securekey-refresh@.service
	has -rwxr-xr-x ./usr/share/initramfs-tools/hooks/securekey
	has -rwxr-xr-x ./usr/share/initramfs-tools/scripts/local-top/securekey
	has -rwxr-xr-x ./usr/lib/dracut/modules.d/90securekey/module-setup.sh
	has -rw-r--r-- ./usr/share/bash-completion/completions/securekey
	has -rw-r--r-- ./usr/share/bash-completion/completions/securekey-cryptsetup
	has -rw-r--r-- ./etc/securekey/securekey.conf
	has -rw-r--r-- ./usr/share/doc/securekey/copyright
	has drwx------ ./var/lib/securekey/
	man_pages >man.txt
	grep -q '^8 securekey\.8$' man.txt || atf_fail "no securekey.8 in man/Makefile.am: $(tr '\n' ' ' <man.txt)"
	while read -r section page; do
		has -rw-r--r-- "./usr/share/man/man$section/$page.gz"
	done <man.txt
	# Nothing for developers, no libtool archive, nothing outside /usr, /etc/securekey
	# and /var/lib/securekey.
	if awk '{ print $2 }' modes.txt | grep -E '\.(la|a)$|^\./usr/include/|^\./usr/local/' ||
		awk '{ print $2 }' modes.txt | grep -vE '^\./$|^\./(usr|etc|var|var/lib)/$|^\./usr/|^\./etc/securekey/|^\./var/lib/securekey/'; then
		atf_fail "the package holds files it should not (above)"
	fi

	atf_check -s exit:0 -o inline:"/etc/securekey/securekey.conf\n" dpkg-deb -I "$deb" conffiles
	atf_check -s exit:0 -o match:"update-initramfs" dpkg-deb -I "$deb" triggers
	atf_check -s exit:0 -o match:"(^|, )cryptsetup-bin(,|$)" -o match:"libcryptsetup12" \
		dpkg-deb -f "$deb" Depends
	atf_check -s exit:0 -o inline:"securekey\n" dpkg-deb -f "$deb" Package

	# The package holds every file 'make install' installs (man pages
	# compressed, no libtool archive).
	make -s -C src/securekey install DESTDIR="$PWD/inst" >install.log 2>&1 ||
		{ tail -n 20 install.log >&2; atf_fail "make install in the package's build tree failed (stderr)"; }
	(cd inst && find . ! -type d) | sed 's|^\(\./usr/share/man/.*\)$|\1.gz|' | sort >make-install.txt
	test -s make-install.txt || atf_fail "make install installed nothing"
	awk '{ print $2 }' modes.txt | sort >package.txt
	atf_check -s exit:0 -o empty comm -23 make-install.txt package.txt

	# ------------------------------------ the package, installed in ./root
	root=$PWD/root
	dpkg_root_init "$root" "$deb"
	atf_check -s exit:0 -o match:"Setting up securekey \($version\)" -e empty \
		dpkg --root="$root" --log="$PWD/dpkg.log" --force-script-chrootless -i "$deb"
	atf_check -s exit:0 -o inline:"install ok installed $version\n" \
		dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status} ${Version}\n' securekey
	test "$(stat -c %a "$root/var/lib/securekey")" = 700 ||
		atf_fail "/var/lib/securekey is $(stat -c %a "$root/var/lib/securekey")"
	# The plugin is where this libcryptsetup looks.
	lcdir=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	test -n "$lcdir" && test "$(readlink -f "$lcdir")" = "$tokendir" ||
		atf_fail "libcryptsetup's plugin directory is '$lcdir', the package's $tokendir"
	# The scripts name the installed paths: nothing left to substitute, every
	# securekey path they name is in the package, and they parse.
	scripts="usr/share/initramfs-tools/hooks/securekey usr/share/initramfs-tools/scripts/local-top/securekey
		usr/lib/dracut/modules.d/90securekey/module-setup.sh usr/lib/securekey/keyscript"
	for f in $scripts usr/lib/udev/rules.d/60-securekey.rules \
		usr/lib/systemd/system/securekey-refresh@.service; do
		grep -nE '@[a-z_]+@' "$root/$f" && atf_fail "$f has unsubstituted @...@"
		for p in $(grep -oE '/usr/[A-Za-z0-9_./@-]*securekey[A-Za-z0-9_.@-]*' "$root/$f" | sort -u); do
			[ -e "$root$p" ] || atf_fail "$f names $p, which the package does not hold"
		done
	done
	for f in $scripts; do
		shell=$(sed -n '1s/^#! *\([^ ]*\).*/\1/p' "$root/$f")
		case $shell in
		/bin/sh | /bin/bash) "$shell" -n "$root/$f" || atf_fail "$f does not parse ($shell -n)" ;;
		*) atf_fail "$f starts with '$(head -n 1 "$root/$f")', not #!/bin/sh or #!/bin/bash" ;;
		esac
	done
	grep -qx "tokendir=$tokendir" "$root/usr/share/initramfs-tools/hooks/securekey" ||
		atf_fail "the initramfs hook does not copy the plugin from $tokendir"
	# No private library: the commands and the plugin need nothing but the system's.
	if command -v readelf >/dev/null; then
		for f in usr/sbin/securekey usr/sbin/securekey-cryptsetup usr/lib/securekey/securekey-udev \
			"${tokendir#/}/libcryptsetup-token-securekey.so"; do
			readelf -d "$root/$f" | grep -E 'RPATH|RUNPATH' && atf_fail "$f has a RUNPATH"
		done
	fi
	# p11-kit, opened at run time by the pkcs11 backend (no NEEDED entry, so
	# no shlibs dependency), is at least recommended.
	if grep -q 'libp11-kit\.so\.0' "$root/usr/sbin/securekey"; then
		dpkg-deb -f "$deb" Depends Recommends | grep -q 'libp11-kit0' ||
			atf_fail "securekey opens libp11-kit.so.0, the package neither depends on nor recommends libp11-kit0"
	fi
	for f in usr/sbin/securekey usr/sbin/securekey-cryptsetup usr/lib/securekey/securekey-udev; do
		atf_check -s exit:0 -o inline:"${f##*/} $(ac_version)\n" -e empty \
			env -u LD_LIBRARY_PATH -u LD_PRELOAD "$root/$f" --version
	done

	# -------------------- the packaged commands and plugin on an image
	SECUREKEY=$root/usr/sbin/securekey
	CR=$root/usr/sbin/securekey-cryptsetup
	PLUGIN_DIR=$root$tokendir
	setup
	mkimg img
	enroll img
	atf_check -s exit:0 -e empty -o match:"^  0: securekey\$" \
		-o match:"^	Key type:   aes-xts-512\$" -o match:"^	APQNs:      $APQNS\$" \
		-o match:"^	MKVP:       $MK0\$" -o match:"^	KMS:        none\$" \
		-o match:"^	Keyslot:    1\$" ./pcs luksDump img
	atf_check -s exit:0 -o ignore -e ignore \
		./pcs open --test-passphrase --token-only --token-type securekey img
	# Those lines came from the packaged plugin, not one on this host.
	if [ ! -e "$lcdir/libcryptsetup-token-securekey.so" ]; then
		atf_check -s exit:0 -e empty -o match:"^  0: securekey\$" -o not-match:"MKVP" \
			cryptsetup luksDump img
	fi

	# The shipped configuration is an empty one, and each key it shows
	# commented out (but the pkcs11 ones, which need backend = pkcs11) is
	# one securekey takes.
	conf=$root/etc/securekey/securekey.conf
	atf_check -s exit:0 -o match:"CURRENT  valid" -e empty "$SECUREKEY" --config "$conf" hsm status
	sed -e '/^#\(uri\|module\|pin_file\) /d' -e 's/^#\([[a-z]\)/\1/' "$conf" >uncommented.conf
	test "$(grep -c '^[a-z]' uncommented.conf)" -ge 10 ||
		{ cat "$conf" >&2; atf_fail "the shipped configuration shows few keys (stderr)"; }
	atf_check -s exit:0 -o match:"CURRENT  valid" -e empty \
		"$SECUREKEY" --config uncommented.conf hsm status
	printf '[bogus]\nkey = value\n' >bad.conf
	atf_check -s exit:1 -o empty -e match:"bad.conf:[0-9]+: unknown section" \
		"$SECUREKEY" --config bad.conf hsm status
	# ------------------------------- removed, then purged, from ./root
	# (dpkg warns on stderr that it leaves /var/lib, which is not its alone.)
	atf_check -s exit:0 -o match:"Removing securekey" -e not-match:"error" \
		dpkg --root="$root" --log="$PWD/dpkg.log" --force-script-chrootless -r securekey
	for f in usr/sbin/securekey "${tokendir#/}/libcryptsetup-token-securekey.so" \
		usr/share/initramfs-tools/hooks/securekey; do
		[ ! -e "$root/$f" ] || atf_fail "/$f is still there after dpkg -r"
	done
	[ -f "$conf" ] || atf_fail "dpkg -r removed the conffile $conf"
	atf_check -s exit:0 -o match:"Purging configuration files for securekey" -e not-match:"error" \
		dpkg --root="$root" --log="$PWD/dpkg.log" --force-script-chrootless -P securekey
	[ ! -e "$root/etc/securekey" ] || atf_fail "dpkg -P left /etc/securekey"
}
build_and_install_cleanup()
{
	rm -rf src inst root
}

atf_test_case metadata
metadata_head()
{
	atf_set "descr" "debian/: the changelog's version is AC_INIT's, every library configure.ac" \
		"requires is a Build-Depends, the plugin goes to the multiarch plugin directory"
}
metadata_body()
{
	deb=$SK_SRCDIR/debian
	atf_check -s exit:0 -o match:"^securekey \($(ac_version)(-[0-9.]+)?\) unstable;" \
		head -n 1 "$deb/changelog"
	# SK_REQUIRE([VAR], [module], [package]): each package is a build dependency.
	pkgs=$(sed -n 's/^SK_REQUIRE(\[[A-Z_0-9]*\], *\[[^]]*\], *\[\([^]]*\)\]).*/\1/p' \
		"$SK_SRCDIR/configure.ac")
	[ -n "$pkgs" ] || atf_fail "no SK_REQUIRE in configure.ac"
	sed -n '/^Build-Depends:/,/^[A-Z]/p' "$deb/control" >bdeps.txt
	for pkg in $pkgs; do
		grep -qE "(:|,|^)[[:space:]]*$pkg([[:space:]]|,|$)" bdeps.txt ||
			atf_fail "configure.ac requires $pkg, debian/control does not Build-Depend on it"
	done
	grep -qxF 'TOKENDIR = /usr/lib/$(DEB_HOST_MULTIARCH)/cryptsetup' "$deb/rules" &&
		grep -qF -- '--with-tokendir=$(TOKENDIR)' "$deb/rules" ||
		atf_fail "debian/rules does not configure the multiarch plugin directory"
	atf_check -s exit:0 -o inline:"3.0 (native)\n" cat "$deb/source/format"
}

atf_init_test_cases()
{
	atf_add_test_case metadata
	atf_add_test_case build_and_install
}
