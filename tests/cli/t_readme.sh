#! @ATF_SH@
# The README's procedures, run as written (issue 10 point 5). One case per
# section: its ```sh blocks are taken from README.md by the section's
# heading, put through the substitution table below, and run by bash -e with
# this build's binaries first in PATH and no terminal; then the end state is
# checked. bash -x traces every command with its line number: a README
# command line that did not run (or a substitution that dropped one) fails
# the case, as does a command that fails.
#
# Nothing outside the work directory is written: the host's /etc and
# /var/lib/securekey are ./root/etc and ./root/var/lib/securekey, devices are
# image files, cryptsetup sees this build's plugin in a private mount
# namespace (./pcs), and the boot section's initramfs is made in another one.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. "$SK_SRCDIR/tests/cli/common.sh"
. "$SK_SRCDIR/tests/cli/devices.sh"
KMS_DIR=$SK_SRCDIR/tests/kms
. "$SK_SRCDIR/tests/cli/kms.sh"

README=$SK_SRCDIR/README.md

# ------------------------------------------------------------- helpers

# host: a host's paths under ./root, as the Debian package leaves them: the
# configuration /etc/securekey/securekey.conf (empty: comments only) and the
# state directory /var/lib/securekey, with the soft HSM in its hsm/ (no
# SECUREKEY_HSM_DIR). ./pass: the passphrase of the images' keyslot 0.
host()
{
	unset SECUREKEY_HSM_DIR
	export SECUREKEY_CONF="$PWD/root/etc/securekey/securekey.conf"
	export SECUREKEY_STATE_DIR="$PWD/root/var/lib/securekey"
	mkdir -p root/etc/securekey root/var/lib
	mkdir -m 0700 root/var/lib/securekey
	echo "# securekey configuration, see securekey.conf(5)." >"$SECUREKEY_CONF"
	printf 'correct horse battery' >pass
	chmod 0600 pass
}

# readme_block HEADING N: the Nth ```sh block (from 1) of the README section
# whose heading, at any level, is HEADING, up to the next heading. N=0: the
# number of such blocks.
readme_block()
{
	awk -v h="$1" -v n="$2" '
	fence && /^```/ { fence = 0; want = 0; next }
	fence { if (want) print; next }
	/^```/ { fence = 1; if (sec && $0 == "```sh" && ++k == n) want = 1; next }
	/^#+ / { t = $0; sub(/^#+ /, "", t); sec = (t == h) }
	END { if (n == 0) print k + 0 }
	' "$README"
}

# The substitution table: what the test runs in place of the README's text.
# Each entry turns one line into one line (the line numbers stay), and every
# README command still runs, in its place:
#   /dev/sdb1, /dev/sda3       image files ./sdb1.img, ./sda3.img (mkimg); sda3
#                              is the root volume of the boot section
#   /etc/, /var/lib/securekey  ./root/etc/, ./root/var/lib/securekey, where
#                              SECUREKEY_CONF and SECUREKEY_STATE_DIR point
#   cryptsetup open DEV NAME   ./pcs open --test-passphrase --token-only DEV:
#                              the real cryptsetup with this build's plugin; no
#                              device-mapper here, and only the token may unlock
#   the passphrase prompt      --key-file pass after securekey-cryptsetup
#                              enroll|reencipher|setkey|remove and securekey
#                              rotate (but --dry-run): the prompt reads
#                              /dev/tty, never stdin, and the blocks run with no
#                              terminal (setsid), where it fails at once
#   kmip://kms1.example:5696   the PyKMIP test servers kms1 and kms2 on
#   kmip://kms2.example:5696   127.0.0.1 (KMS1_PORT, KMS2_PORT)
#   apt-get install PKG...     dpkg-query -W PKG...: they must be installed; a
#                              test installs nothing
#   ansible-galaxy collection  ... install into ./collections (-p), which
#   install ./ansible          ANSIBLE_COLLECTIONS_PATH names, from the source
#   -i hosts, /root/luks.key   ./hosts (one host, connection local), ./pass;
#                              an initramfs rebuild would touch a file here
#   update-initramfs -u        ./mkinitramfs-root: mkinitramfs for Debian's
#                              kernel into ./initrd.img, in a private mount
#                              namespace with what 'make install' put in ./inst
#                              over /usr and ./root/etc over /etc (update-initramfs
#                              would write /boot)
readme_sed()
{
	cat <<EOF
s|/dev/sdb1|$PWD/sdb1.img|g
s|/dev/sda3|$PWD/sda3.img|g
s|/etc/|$PWD/root/etc/|g
s|/var/lib/securekey|$PWD/root/var/lib/securekey|g
s|^cryptsetup open \([^ ]*\) [^ ]*|./pcs open --test-passphrase --token-only \1|
s/^securekey-cryptsetup \(enroll\|reencipher\|setkey\|remove\) /&--key-file pass /
/--dry-run/!s/^securekey rotate /&--key-file pass /
s|kmip://kms1\.example:5696|kmip://127.0.0.1:${KMS1_PORT:-}|g
s|kmip://kms2\.example:5696|kmip://127.0.0.1:${KMS2_PORT:-}|g
s|^apt-get install |dpkg-query -W |
s|^update-initramfs -u|./mkinitramfs-root|
s|^ansible-galaxy collection install \./ansible|ansible-galaxy collection install $SK_SRCDIR/ansible -p $PWD/collections|
s| -i hosts | -i $PWD/hosts |
s|securekey_key_file=/root/luks\.key|securekey_key_file=$PWD/pass -e '{"securekey_initramfs_command": ["touch", "$PWD/initramfs-rebuilt"]}'|
EOF
}

# command_lines FILE: the numbers of FILE's lines that start a command: not
# blank, not a comment, not a continuation, not in a here-document.
command_lines()
{
	awk '
	doc != "" { if ($0 == doc) doc = ""; next }
	cont { cont = /\\$/; next }
	/^[[:space:]]*(#|$)/ { next }
	{
		print NR
		cont = /\\$/
		if (match($0, /<<-?[[:space:]]*["'\'']?[A-Za-z_][A-Za-z_0-9]*/)) {
			doc = substr($0, RSTART, RLENGTH)
			sub(/^<<-?[[:space:]]*["'\'']?/, "", doc)
		}
	}' "$1"
}

# run_readme HEADING N: run block N of section HEADING, substituted, with
# bash -e in a new session (no terminal), this build's cli/ first in PATH;
# its output in readme-N.out. Fails unless it exits 0 and every command line
# of the block ran (the blocks are straight-line procedures: a loop's or a
# conditional's closing line would count as a command that never ran).
run_readme()
{
	_b=readme-$2
	readme_block "$1" "$2" >"$_b.orig"
	test -s "$_b.orig" || atf_fail "README section '$1' has no sh block $2"
	sed "$(readme_sed)" "$_b.orig" >"$_b.sh"
	test "$(wc -l <"$_b.sh")" = "$(wc -l <"$_b.orig")" ||
		atf_fail "the substitutions changed the number of lines of block $2 of '$1'"
	echo "$1" >>readme.ran
	PATH="$SK_BUILDDIR/cli:$PATH" setsid -w bash -e -c \
		'exec 9>"$1.trace"; BASH_XTRACEFD=9; PS4="+README:\$LINENO: "; set -x; . "./$1.sh"' \
		bash "$_b" </dev/null >"$_b.out" 2>&1
	_rc=$?
	# Commands of the sourced block trace with "++" or deeper.
	sed -n 's/^+++*README:\([0-9][0-9]*\): .*/\1/p' "$_b.trace" | sort -u >"$_b.ran"
	command_lines "$_b.orig" | sort >"$_b.cmds"
	_missing=$(comm -23 "$_b.cmds" "$_b.ran" | sort -n | while read -r _l; do
		printf ' [%s: %s]' "$_l" "$(sed -n "${_l}p" "$_b.orig" | sed 's/[[:space:]]*#.*//')"
	done)
	if [ "$_rc" -ne 0 ] || [ -n "$_missing" ]; then
		echo "---- block $2 of '$1' as run:"
		cat -n "$_b.sh"
		echo "---- its output:"
		cat "$_b.out"
		atf_fail "README '$1' block $2: exit status $_rc${_missing:+; README lines not run:$_missing}"
	fi
}

# all_blocks_ran HEADING: run_readme ran every sh block of section HEADING.
all_blocks_ran()
{
	_n=$(grep -cxF "$1" readme.ran)
	test "$_n" = "$(readme_block "$1" 0)" ||
		atf_fail "the test ran $_n of the $(readme_block "$1" 0) sh blocks of README '$1'"
}

# out_has N EXTENDED-REGEXP: the output of block N has a line matching.
out_has()
{
	grep -Eq "$2" "readme-$1.out" || atf_fail "no line matching '$2' in the output of block $1: $(cat "readme-$1.out")"
}

# init_hsm: the officer's 'hsm init' before the section (MKVP in $MK0), and
# the custodians' key parts part1, part2 for the next master key.
init_hsm()
{
	init_set
	MK0=$(reg_mkvp CURRENT)
	make_part part1
	make_part part2
}

# ------------------------------------------------------------- sections

atf_test_case admin
admin_head()
{
	atf_set "descr" "README 'Administering master keys': init, status, two custodians' parts, commit, set on the soft HSM in /var/lib/securekey/hsm"
}
admin_body()
{
	h="Administering master keys"
	host
	run_readme "$h" 1
	all_blocks_ran "$h"
	mk0=$(sed -n 's/^Initialized APQNs 01\.0001,02\.0001 in .*: CURRENT master key MKVP \([0-9a-f]\{16\}\) (random)\.$/\1/p' readme-1.out)
	test -n "$mk0" || atf_fail "hsm init did not say its MKVP: $(cat readme-1.out)"
	out_has 1 "^02\.0001  CURRENT  valid +- +$mk0\$"
	atf_check -s exit:0 -o inline:"600 32\n600 32\n" stat -c "%a %s" part1 part2
	atf_check -s exit:0 test -f root/var/lib/securekey/hsm/01.0001.mk
	test "$(status_json_get "s['backend']")" = soft || atf_fail "not the soft HSM"
	for apqn in 01.0001 02.0001; do
		test "$(reg_mkvp CURRENT $apqn)" = "$(mkvp_of_parts part1 part2)" ||
			atf_fail "CURRENT of $apqn is not the key of part1 and part2"
		test "$(reg_mkvp OLD $apqn)" = "$mk0" || atf_fail "OLD of $apqn is not the initial key $mk0"
		test "$(reg_mkvp NEW $apqn)" = None || atf_fail "NEW of $apqn is not empty"
	done
}

atf_test_case pkcs11
pkcs11_head()
{
	atf_set "descr" "README 'A PKCS#11 HSM': a SoftHSM2 token in /var/lib/securekey/tokens, master keys generated, committed and set inside it"
	atf_set "require.progs" "softhsm2-util pkcs11-tool dpkg-query"
	atf_set "require.files" "/usr/lib/softhsm/libsofthsm2.so"
}
pkcs11_body()
{
	h="A PKCS#11 HSM (pkcs11 backend)"
	host
	run_readme "$h" 1
	all_blocks_ran "$h"
	# The block exported it for its own commands.
	export SOFTHSM2_CONF="$PWD/root/etc/securekey/softhsm2.conf"
	mk0=$(sed -n 's/^Initialized APQNs 01\.0001 in pkcs11:token=securekey?.*: CURRENT master key MKVP \([0-9a-f]\{16\}\) (random)\.$/\1/p' readme-1.out)
	mk1=$(sed -n 's/^NEW master key generated on APQNs 01\.0001 (MKVP \([0-9a-f]\{16\}\))\.$/\1/p' readme-1.out)
	test -n "$mk0" && test -n "$mk1" || atf_fail "init or generate-new did not say their MKVP: $(cat readme-1.out)"
	out_has 1 "^Token: 'securekey', serial [0-9a-f]+, SoftHSM"
	out_has 1 "label: +securekey-mk-current"
	out_has 1 "label: +securekey-mk-old"
	out_has 1 "never extractable"
	test "$(status_json_get "s['backend']")" = pkcs11 || atf_fail "not the pkcs11 backend"
	test "$(reg_mkvp CURRENT)" = "$mk1" || atf_fail "CURRENT is not the generated NEW key $mk1"
	test "$(reg_mkvp OLD)" = "$mk0" || atf_fail "OLD is not the initial key $mk0"
	atf_check -s exit:0 -o inline:"600\n" stat -c %a root/etc/securekey/hsm.pin
	atf_check -s exit:0 -o not-empty ls root/var/lib/securekey/tokens
	atf_check -s exit:1 test -e root/var/lib/securekey/hsm
}

atf_test_case one_device
one_device_head()
{
	atf_set "descr" "README 'One device': enroll, open by token, export, staged master-key change of one image file"
	common_head
}
one_device_body()
{
	h="One device (like zkey-cryptsetup)"
	host
	make_pcs
	init_hsm
	mkimg sdb1.img
	run_readme "$h" 1
	all_blocks_ran "$h"
	out_has 1 "^$PWD/sdb1\.img: enrolled: securekey token 0, keyslot 1"
	vstate sdb1.img CURRENT - none
	vjson sdb1.img "v['secure_key']['mkvp'] == '$(mkvp_of_parts part1 part2)'"
	test "$(reg_mkvp OLD)" = "$MK0" || atf_fail "OLD is not the initial master key"
	test "$(blob_mkvp sdb1.skey)" = "$MK0" || atf_fail "sdb1.skey is not the key under the initial master key"
	atf_check -s exit:0 -o inline:"600\n" stat -c %a sdb1.skey
	token_unlocks sdb1.img "secure key under the CURRENT master key"
	pass_opens sdb1.img
	# Each write backed the header up first (enroll, the two re-encipher
	# steps); the last 5 are kept.
	n=$(ls "root/var/lib/securekey/backup/$(cryptsetup luksUUID sdb1.img)" | grep -c '\.hdr$')
	[ "$n" -ge 3 ] && [ "$n" -le 5 ] || atf_fail "$n header backups, not 3 to 5"
}

atf_test_case many_devices
many_devices_head()
{
	atf_set "descr" "README 'Many devices': securekey rotate of three enrolled image files, after a dry run"
	common_head
}
many_devices_body()
{
	h="Many devices, one master-key change"
	host
	make_pcs
	init_hsm
	# Three volumes enrolled as in 'One device'.
	for d in sdb1 sdc1 sdd1; do
		mkimg $d.img
		atf_check -s exit:0 -o ignore -e ignore "$CR" enroll "$PWD/$d.img" --apqns "$APQNS" --key-file pass
	done
	run_readme "$h" 1
	all_blocks_ran "$h"
	test "$(grep -c "would stage to the NEW master key" readme-1.out)" = 3 ||
		atf_fail "the dry run did not plan 3 volumes: $(cat readme-1.out)"
	out_has 1 "^Rotation of APQNs $APQNS complete: every volume is under the CURRENT master key"
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	json_holds list.json l "len(l) == 3" \
		"all((d['register'], d['staged'], d['next_step']) == ('CURRENT', False, 'none') for d in l)"
	test "$(reg_mkvp CURRENT)" = "$(mkvp_of_parts part1 part2)" || atf_fail "CURRENT is not the new key"
	test "$(reg_mkvp OLD)" = "$MK0" || atf_fail "OLD is not the initial master key"
	atf_check -s exit:0 -o match:"^600 .*\.journal\$" sh -c 'stat -c "%a %n" root/var/lib/securekey/rotate/*'
	for d in sdb1 sdc1 sdd1; do
		token_unlocks $d.img "secure key under the CURRENT master key"
	done
}

atf_test_case ansible
ansible_head()
{
	atf_set "descr" "README 'Many hosts': the collection installed with ansible-galaxy, its docs, and the rotate playbook on one local host with three volumes"
	common_head ansible-galaxy ansible-doc ansible-playbook
}
ansible_body()
{
	h="Many hosts: the Ansible collection"
	host
	make_pcs
	init_hsm
	for d in sdb1 sdc1 sdd1; do
		mkimg $d.img
		atf_check -s exit:0 -o ignore -e ignore "$CR" enroll "$PWD/$d.img" --apqns "$APQNS" --key-file pass
	done
	# The officer's NEW master key, loaded and committed before the playbook.
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file part1
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file part2
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	# Ansible's own files (temporary modules, the galaxy cache) stay here;
	# connection local hands the modules this environment.
	export ANSIBLE_HOME="$PWD/ansible-home" ANSIBLE_LOCAL_TEMP="$PWD/ansible-tmp" \
		ANSIBLE_REMOTE_TEMP="$PWD/ansible-tmp" ANSIBLE_COLLECTIONS_PATH="$PWD/collections" \
		ANSIBLE_NOCOLOR=1
	printf '[securekey]\nthis ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' >hosts
	run_readme "$h" 1
	all_blocks_ran "$h"
	out_has 1 "^> SECUREKEY\.FLEET\.SECUREKEY_REENCIPHER"
	out_has 1 "^this +: ok=[0-9]+ +changed=[1-9][0-9]* +unreachable=0 +failed=0"
	test "$(reg_mkvp CURRENT)" = "$(mkvp_of_parts part1 part2)" || atf_fail "CURRENT is not the new key"
	test "$(reg_mkvp OLD)" = "$MK0" || atf_fail "OLD is not the initial master key"
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	json_holds list.json l "len(l) == 3" \
		"all((d['register'], d['staged'], d['next_step']) == ('CURRENT', False, 'none') for d in l)"
	for d in sdb1 sdc1 sdd1; do
		token_unlocks $d.img "secure key under the CURRENT master key"
	done
}

atf_test_case kmip cleanup
kmip_head()
{
	atf_set "descr" "README 'Key management server': configure two PyKMIP servers, enroll --kms; after two missed master-key changes, refresh re-wraps the key from the KMS"
	kms_head
}
kmip_body()
{
	h="Key management server (KMIP)"
	host
	make_pcs
	init_set
	mkimg sdb1.img
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start kms1
	start kms2
	KMS1_PORT=$(kms_port kms1 "$PWD/kms")
	KMS2_PORT=$(kms_port kms2 "$PWD/kms")
	# What the KMS administrator hands over.
	cp kms/ca.pem kms/client.pem kms/client.key .
	run_readme "$h" 1
	out_has 1 "^Primary +kmip://127\.0\.0\.1:$KMS1_PORT: reachable"
	out_has 1 "^Secondary +kmip://127\.0\.0\.1:$KMS2_PORT: reachable"
	atf_check -s exit:1 test -e client.key
	atf_check -s exit:0 test -f root/etc/securekey/kms/identity.skey
	atf_check -s exit:0 -o match:"^server = kmip://127\.0\.0\.1:$KMS1_PORT\$" \
		-o match:"^server = kmip://127\.0\.0\.1:$KMS2_PORT\$" cat root/etc/securekey/securekey.conf
	# PyKMIP's own client reads the volume key that enroll --kms registered.
	vk_of sdb1.img vk
	atf_check -s exit:0 -o inline:"$(od -An -tx1 -v vk | tr -d ' \n')\n" -e empty \
		./tool-kms1 get "$(key_id sdb1.img)"
	# The volume misses two master-key changes (it is offline: the officer
	# sets with --force); the identity key follows them.
	change_mk_twice
	slots=$(keyslots_json sdb1.img)
	run_readme "$h" 2
	all_blocks_ran "$h"
	out_has 2 "^Secure key: +MKVP [0-9a-f]{16}, under no master key register"
	out_has 2 "^The volume key of $PWD/sdb1\.img was fetched from the KMS"
	vstate sdb1.img CURRENT - none
	vjson sdb1.img "v['secure_key']['mkvp'] == '$(reg_mkvp CURRENT)'"
	test "$(keyslots_json sdb1.img)" = "$slots" || atf_fail "refresh changed the keyslots"
	token_unlocks sdb1.img "secure key under the CURRENT master key"
}
kmip_cleanup()
{
	kms_cleanup
}

# boot_kernel: the newest kernel with modules and an image, as tests/vm/t_boot
# finds its guest kernel (Debian's linux-image-amd64).
boot_kernel()
{
	for _v in $(ls /lib/modules 2>/dev/null | sort -rV); do
		[ -r "/boot/vmlinuz-$_v" ] && { echo "$_v"; return; }
	done
}

atf_test_case boot
boot_head()
{
	atf_set "descr" "README 'Unlocking at boot': crypttab with the keyscript, UMASK=0077, and the initramfs (mkinitramfs) has the securekey hook's files and the soft HSM's state"
	atf_set "require.user" "root"
	atf_set "require.progs" "mkinitramfs lsinitramfs unmkinitramfs unshare mount cryptsetup truncate"
	atf_set "require.files" "/usr/share/initramfs-tools/hook-functions /usr/share/initramfs-tools/hooks/cryptroot"
}
boot_body()
{
	h="Unlocking at boot"
	kver=$(boot_kernel)
	[ -n "$kver" ] || atf_skip "mkinitramfs needs a kernel: no /boot/vmlinuz-V with /lib/modules/V (apt-get install linux-image-amd64)"
	host
	mkdir -p root/etc/initramfs-tools upper/usr ovl/usr ovl/etc
	init_set
	mkimg sda3.img
	# What 'make install' puts under /usr (the plugin into libcryptsetup's
	# directory, /lib = /usr/lib), as tests/vm/boot_flow.sh installs it.
	for d in cli plugin udev; do
		make -s -C "$SK_BUILDDIR/$d" install DESTDIR="$PWD/inst" prefix=/usr >>install.log 2>&1 ||
			atf_fail "make install in $d: $(tail -n 5 install.log)"
	done
	cp -a inst/usr/. upper/usr/
	[ ! -d inst/lib ] || cp -a inst/lib/. upper/usr/lib/
	# The host's initramfs-tools configuration: the VM tests' (only the
	# modules a guest needs, so it builds fast), without their UMASK line.
	grep -v '^UMASK=' "$SK_SRCDIR/tests/vm/initramfs-conf/initramfs.conf" >root/etc/initramfs-tools/initramfs.conf
	cp "$SK_SRCDIR/tests/vm/initramfs-conf/modules" root/etc/initramfs-tools/modules
	cat >mkinitramfs-root <<EOF
#!/bin/sh
# update-initramfs -u of the README: mkinitramfs with ./inst over /usr and
# ./root/etc over /etc in a private mount namespace.
exec unshare -m sh -ec 'mount -t overlay overlay -o "lowerdir=/usr,upperdir=\$1/upper/usr,workdir=\$1/ovl/usr" /usr
mount -t overlay overlay -o "lowerdir=/etc,upperdir=\$1/root/etc,workdir=\$1/ovl/etc" /etc
exec mkinitramfs -o "\$1/initrd.img" "\$2"' mkinitramfs-root "$PWD" "$kver"
EOF
	chmod +x mkinitramfs-root
	unshare -m sh -c 'mount -t overlay overlay -o "lowerdir=/usr,upperdir=$1/upper/usr,workdir=$1/ovl/usr" /usr' \
		sh "$PWD" >overlay.err 2>&1 ||
		atf_skip "mkinitramfs cannot run with this build over /usr: overlayfs: $(cat overlay.err)"
	host_files=$(sha256sum /etc/crypttab /etc/initramfs-tools/initramfs.conf 2>&1)

	run_readme "$h" 1
	all_blocks_ran "$h"
	uuid=$(cryptsetup luksUUID sda3.img)
	line="root_crypt UUID=$uuid none luks,keyscript=/usr/lib/securekey/keyscript,initramfs"
	atf_check -s exit:0 -o inline:"$line\n" cat root/etc/crypttab
	atf_check -s exit:0 -o inline:"UMASK=0077\n" tail -n 1 root/etc/initramfs-tools/initramfs.conf
	vstate sda3.img CURRENT - none
	test "$(sha256sum /etc/crypttab /etc/initramfs-tools/initramfs.conf 2>&1)" = "$host_files" ||
		atf_fail "the host's /etc changed"

	lsinitramfs initrd.img >lsinitramfs.txt || atf_fail "lsinitramfs initrd.img failed"
	missing=""
	for f in usr/sbin/securekey-cryptsetup usr/lib/securekey/securekey-udev \
		usr/lib/securekey/keyscript usr/lib/udev/rules.d/60-securekey.rules \
		scripts/local-top/securekey conf/conf.d/securekey etc/securekey/securekey.conf \
		var/lib/securekey/hsm/01.0001.mk var/lib/securekey/hsm/02.0001.mk \
		cryptroot/crypttab usr/sbin/cryptsetup; do
		grep -qx "$f" lsinitramfs.txt || missing="$missing $f"
	done
	grep -q '/cryptsetup/libcryptsetup-token-securekey\.so$' lsinitramfs.txt ||
		missing="$missing libcryptsetup-token-securekey.so"
	[ -z "$missing" ] || atf_fail "lsinitramfs initrd.img lacks:$missing"
	# cryptroot took the README's crypttab line, the hook the HSM's state.
	atf_check -s exit:0 -o ignore -e ignore unmkinitramfs initrd.img unpacked
	top=unpacked
	[ -d unpacked/main ] && top=unpacked/main
	atf_check -s exit:0 -o match:"^$line\$" cat "$top/cryptroot/crypttab"
	for m in 01.0001.mk 02.0001.mk; do
		atf_check -s exit:0 cmp "$top/var/lib/securekey/hsm/$m" "root/var/lib/securekey/hsm/$m"
	done
}

atf_init_test_cases()
{
	atf_add_test_case admin
	atf_add_test_case pkcs11
	atf_add_test_case one_device
	atf_add_test_case many_devices
	atf_add_test_case ansible
	atf_add_test_case kmip
	atf_add_test_case boot
}
