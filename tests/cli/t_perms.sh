#! @ATF_SH@
# Who may change what securekey trusts (issue 22, part 5): securekey.conf
# chooses the HSM and the PKCS#11 module loaded into root's processes (the
# cryptsetup plugin too), and the state, lock, backup and KMS directories
# hold what later runs act on. Each must be owned by root or by the caller
# and not be writable by group or others; otherwise the command is refused
# with one line naming the path and the command that fixes it, and nothing
# changes. The temporary files that replace state are covered by
# unit/t_secfile.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# refused_line STDERR_REGEXP COMMAND...: COMMAND exits 1, prints nothing on
# stdout and exactly one line on stderr, which matches STDERR_REGEXP, and
# changes nothing in the work directory (snap, devices.sh).
refused_line()
{
	_re=$1
	shift
	snap >.sk-snap.before
	atf_check -s exit:1 -o empty -e save:.sk-snap.err "$@"
	snap >.sk-snap.after
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "refused command changed the work directory: $*"
	fi
	grep -Eq -- "$_re" .sk-snap.err ||
		atf_fail "$*: stderr is not '$_re': $(tr '\n' '|' <.sk-snap.err)"
	test "$(wc -l <.sk-snap.err)" = 1 ||
		atf_fail "$*: not one line on stderr: $(tr '\n' '|' <.sk-snap.err)"
	rm -f .sk-snap.before .sk-snap.after .sk-snap.err
}

# need_root: chown to another user needs root; the mode cases run without it.
need_root()
{
	test "$(id -u)" = 0 || atf_skip "chown to another user needs root"
}

# mode_msg WHAT PATH MODE FIX: the refusal of PATH open to others, as a regexp.
mode_msg()
{
	printf '^%s %s has mode %s and may be changed by others; fix with: chmod %s %s$' \
		"$1" "$2" "$3" "$4" "$2"
}

# owner_msg WHAT PATH: the refusal of PATH owned by uid 65534, as a regexp (as root).
owner_msg()
{
	printf '^%s %s is owned by uid 65534, not by root; fix with: chown root %s$' "$1" "$2" "$2"
}

# ------------------------------------------------------------ securekey.conf

atf_test_case config_mode
config_mode_head()
{
	atf_set "descr" "a securekey.conf writable by group or others is refused by reader and writer commands, nothing changed; 0644 and 0600 are taken"
}
config_mode_body()
{
	init_set
	printf '[hsm]\ndir = %s\n' "$PWD/hsm" >securekey.conf
	for mode in 0664 0646 0666 0620 0602; do
		chmod $mode securekey.conf
		msg=$(mode_msg configuration "$PWD/securekey.conf" $mode go-w)
		refused_line "$msg" "$SECUREKEY" hsm status
		refused_line "$msg" "$SECUREKEY" hsm init --apqns 03.0001
	done
	for mode in 0644 0600 0400; do
		chmod $mode securekey.conf
		atf_check -s exit:0 -o match:"CURRENT" -e empty "$SECUREKEY" hsm status
	done
}

atf_test_case config_owner
config_owner_head()
{
	atf_set "descr" "a securekey.conf owned by another user is refused with a chown hint, nothing changed (skipped unless root)"
}
config_owner_body()
{
	need_root
	init_set
	printf '[hsm]\ndir = %s\n' "$PWD/hsm" >securekey.conf
	chown 65534 securekey.conf
	msg=$(owner_msg configuration "$PWD/securekey.conf")
	refused_line "$msg" "$SECUREKEY" hsm status
	refused_line "$msg" "$SECUREKEY" hsm init --apqns 03.0001
	# a link is judged by what it points to
	chown 0 securekey.conf
	ln -s securekey.conf link.conf
	atf_check -s exit:0 -o match:"CURRENT" -e empty env SECUREKEY_CONF=$PWD/link.conf \
		"$SECUREKEY" hsm status
	chmod 0664 securekey.conf
	refused_line "$(mode_msg configuration "$PWD/link.conf" 0664 go-w)" \
		env SECUREKEY_CONF=$PWD/link.conf "$SECUREKEY" hsm status
}

atf_test_case config_plugin
config_plugin_head()
{
	atf_set "descr" "the cryptsetup plugin and securekey-cryptsetup refuse a securekey.conf writable by others: no unlock by token, no header write"
	common_head
}
config_plugin_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	printf '[hsm]\ndir = %s\n' "$PWD/hsm" >securekey.conf
	token_unlocks img "secure key under the CURRENT master key"
	chmod 0666 securekey.conf
	msg=$(mode_msg configuration "$PWD/securekey.conf" 0666 go-w)
	token_fails img "" "${msg#^}"
	refused_line "^img: ${msg#^}" "$CR" validate img
	refused_line "^img: ${msg#^}" "$CR" reencipher img --staged --key-file pass
}

# --------------------------------------------------- the PKCS#11 module

atf_test_case module_mode
module_mode_head()
{
	common_head softhsm2-util
	atf_set "require.files" "$P11_MODULE"
	atf_set "descr" "[hsm] module = a library writable by group or others, or owned by another user, is refused before it is loaded; a link is judged by its target"
}
module_mode_body()
{
	export SOFTHSM2_CONF="$PWD/hsm/softhsm2.conf"
	unset SECUREKEY_HSM_DIR
	p11_token
	mkdir -m 0755 mod
	cp "$P11_MODULE" mod/module.so
	chmod 0644 mod/module.so
	ln -s module.so mod/link.so
	for m in module link; do
		printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=%s\nmodule = %s\npin_file = %s\n' \
			"$P11_TOKEN" "$PWD/mod/$m.so" "$PWD/hsm/pin" >securekey.conf.$m
	done
	export SECUREKEY_CONF=$PWD/securekey.conf.module
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --apqns 01.0001
	atf_check -s exit:0 -o match:"CURRENT +valid" -e empty "$SECUREKEY" hsm status
	for mode in 0664 0646 0775; do
		chmod $mode mod/module.so
		for m in module link; do
			export SECUREKEY_CONF=$PWD/securekey.conf.$m
			msg=$(mode_msg "PKCS#11 module" "$PWD/mod/$m.so" $mode go-w)
			refused_line "$msg" "$SECUREKEY" hsm status
			refused_line "$msg" "$SECUREKEY" hsm generate-new --apqns 01.0001
			refused_line "$msg" "$SK_BUILDDIR/cli/securekey-udev" files
		done
	done
	chmod 0755 mod/module.so
	export SECUREKEY_CONF=$PWD/securekey.conf.link
	atf_check -s exit:0 -o match:"CURRENT +valid" -e empty "$SECUREKEY" hsm status
	test "$(id -u)" = 0 || return 0
	chown 65534 mod/module.so
	refused_line "$(owner_msg "PKCS#11 module" "$PWD/mod/link.so")" "$SECUREKEY" hsm status
}

# ------------------------------------------------------- state directories

atf_test_case state_dirs
state_dirs_head()
{
	atf_set "descr" "a state, known-volume, backup, rotation or lock directory writable by group or others, or owned by another user, is refused before anything is written"
	common_head
}
state_dirs_body()
{
	setup
	mkimg a
	mkimg b
	enroll a
	ua=$(cryptsetup luksUUID a)
	mkdir state/rotate
	for mode in 0770 0777 0757; do
		for d in state state/volumes; do
			chmod $mode "$d"
			msg=$(mode_msg "state directory" "$PWD/$d" $mode 0700)
			refused_line "$msg" "$SECUREKEY" list
			refused_line "^(b: )?${msg#^}" "$CR" enroll b --apqns "$APQNS" --key-file pass
			chmod 0700 "$d"
		done
	done
	if [ "$(id -u)" = 0 ]; then
		for d in state/backup state/volumes; do
			chown 65534 "$d"
			refused_line "^(b: )?$(owner_msg "state directory" "$PWD/$d" | cut -c2-)" \
				"$CR" enroll b --apqns "$APQNS" --key-file pass
			chown 0 "$d"
		done
	fi
	new_mk n1
	for mode in 0770 0777 0757; do
		for d in state state/backup "state/backup/$ua"; do
			chmod $mode "$d"
			refused_line "^(a: )?$(mode_msg "state directory" "$PWD/$d" $mode 0700 | cut -c2-)" \
				"$CR" reencipher a --staged --key-file pass
			chmod 0700 "$d"
		done
		chmod $mode state/rotate
		refused_line "$(mode_msg "state directory" "$PWD/state/rotate" $mode 0700)" \
			"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
		chmod 0700 state/rotate
		chmod $mode run
		refused_line "^(a: )?$(mode_msg "lock directory" "$PWD/run" $mode 0700 | cut -c2-)" \
			"$CR" reencipher a --staged --key-file pass
		chmod 0700 run
	done
	# 0755 (a StateDirectory= or RuntimeDirectory= default) is taken
	chmod 0755 state state/backup state/volumes state/rotate run
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --staged --key-file pass
	atf_check -s exit:0 -o match:"^b: enrolled" -e ignore \
		"$CR" enroll b --apqns "$APQNS" --key-file pass
	atf_check -s exit:0 -o match:"$PWD/b" -e empty "$SECUREKEY" list
}

atf_test_case kms_dir
kms_dir_head()
{
	atf_set "descr" "the directory of the KMS identity key writable by group or others, or owned by another user, is refused before the key is read or replaced"
}
kms_dir_body()
{
	init_set
	mkdir -p etc/kms
	printf 'not yet a secure key' >etc/kms/identity.skey
	chmod 0600 etc/kms/identity.skey
	printf '[kms]\nserver = kmip://127.0.0.1:9\nca = %s\ncert = %s\nidentity_key = %s\napqns = %s\n' \
		"$PWD/etc/kms/ca.pem" "$PWD/etc/kms/client.pem" "$PWD/etc/kms/identity.skey" \
		"$APQNS" >securekey.conf
	for mode in 0775 0757; do
		chmod $mode etc/kms
		msg=$(mode_msg "KMS directory" "$PWD/etc/kms" $mode go-w)
		refused_line "$msg" "$SECUREKEY" kms reencipher --staged
		refused_line "$msg" "$SECUREKEY" kms reencipher --complete
	done
	chmod 0755 etc/kms
	test "$(id -u)" = 0 || return 0
	chown 65534 etc/kms
	refused_line "$(owner_msg "KMS directory" "$PWD/etc/kms")" "$SECUREKEY" kms reencipher --staged
}

atf_init_test_cases()
{
	atf_add_test_case config_mode
	atf_add_test_case config_owner
	atf_add_test_case config_plugin
	atf_add_test_case module_mode
	atf_add_test_case state_dirs
	atf_add_test_case kms_dir
}
