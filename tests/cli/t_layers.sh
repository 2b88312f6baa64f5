#! @ATF_SH@
# The layers, read from the source tree (issue 25). From the bottom:
#   lib/base/                        includes only lib/base/
#   lib/conf/ lib/hsm/ lib/kmip/     the library: lib/ only
#   luks2/ kms/ fleet/               the volume layer: lib/ and itself
#   cli/  plugin/                    anything below, not each other
# Each #include "x.h" resolves as the compiler resolves it: the including
# file's own folder first, then the folders on the include path, which are
# all the folders above (SK_LIB_INCLUDES and SK_VOLUME_INCLUDES in
# configure.ac). A header found nowhere among them (config.h, made by
# configure) is not ours to check.

SRCDIR=@abs_top_srcdir@

LIB_FOLDERS="lib/base lib/conf lib/hsm lib/kmip"
VOLUME_FOLDERS="luks2 kms fleet"
FOLDERS="$LIB_FOLDERS $VOLUME_FOLDERS cli plugin"

# may_include FROM TO: whether a file in folder FROM may include a header
# of folder TO.
may_include()
{
	test "$1" = "$2" && return 0
	case $1:$2 in
	lib/base:*) return 1 ;;
	lib/*:lib/*) return 0 ;;
	lib/*:*) return 1 ;;
	luks2:lib/* | kms:lib/* | fleet:lib/*) return 0 ;;
	luks2:* | kms:* | fleet:*)
		case $2 in luks2 | kms | fleet) return 0 ;; esac
		return 1 ;;
	cli:plugin | plugin:cli) return 1 ;;
	cli:* | plugin:*) return 0 ;;
	esac
	return 1
}

# upward_includes ROOT: one line "file:line: includes x.h (folder TO)" per
# include that its folder may not make, or that resolves to more than one
# folder; nothing when the tree at ROOT keeps the layers.
upward_includes()
{
	for from in $FOLDERS; do
		for f in "$1/$from"/*.[ch]; do
			test -f "$f" || continue
			sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f" |
			sort -u | while read -r h; do
				if test -f "$1/$from/$h"; then
					to=$from
				else
					to=
					for d in $FOLDERS; do
						test -f "$1/$d/$h" || continue
						test -z "$to" || {
							echo "$from/${f##*/}: $h is in both $to/ and $d/"
							continue 2
						}
						to=$d
					done
					test -n "$to" || continue
				fi
				may_include "$from" "$to" ||
					echo "$from/${f##*/}: includes $h ($to/)"
			done
		done
	done
}

atf_test_case includes
includes_head()
{
	atf_set "descr" "no upward includes: lib/ never includes luks2/, kms/, fleet/, cli/ or plugin/," \
		"lib/base/ only itself, the volume layer never cli/ or plugin/, cli/ and plugin/ not each other"
}
includes_body()
{
	upward_includes "$SRCDIR" >upward.txt
	test -s upward.txt && atf_fail "upward includes: $(tr '\n' ';' <upward.txt)"
	return 0
}

atf_test_case include_paths
include_paths_head()
{
	atf_set "descr" "the library is compiled without the volume layer's folders, the CLIs' or the" \
		"plugin's on its include path, and the volume layer without cli/'s or plugin/'s"
}
include_paths_body()
{
	# configure.ac: SK_LIB_INCLUDES names lib/ folders only
	sed -n "s/^SK_LIB_INCLUDES=//p" "$SRCDIR/configure.ac" | tr -d "'\"" >lib_includes.txt
	grep -q -e '-I' lib_includes.txt || atf_fail "configure.ac sets no SK_LIB_INCLUDES"
	tr ' ' '\n' <lib_includes.txt | grep -e '-I' | grep -v '^-I$(top_srcdir)/lib/' &&
		atf_fail "SK_LIB_INCLUDES names a folder outside lib/"
	grep -nE 'SK_VOLUME_INCLUDES|-I *[$][(](top_)?srcdir[)]/(\.\./)*(luks2|kms|fleet|cli|plugin)' \
		"$SRCDIR/lib/Makefile.am" &&
		atf_fail "lib/Makefile.am puts the volume layer, cli/ or plugin/ on the include path"
	for d in $VOLUME_FOLDERS; do
		grep -nE -e '-I *[$][(](top_)?srcdir[)]/(\.\./)*(cli|plugin)' "$SRCDIR/$d/Makefile.am" &&
			atf_fail "$d/Makefile.am puts cli/ or plugin/ on the include path"
	done
	return 0
}

atf_test_case every_folder_known
every_folder_known_head()
{
	atf_set "descr" "every folder of C sources outside tests/ has its place in the layers (this test's FOLDERS)"
}
every_folder_known_body()
{
	(cd "$SRCDIR" && find . \( -path ./tests -o -path './build*' -o -path ./.git \
		-o -path ./autom4te.cache \) -prune -o -name '*.[ch]' -print) |
	sed 's|^\./||; s|/[^/]*$||' | sort -u >folders.txt
	for d in $(cat folders.txt); do
		case " $FOLDERS " in *" $d "*) ;; *) echo "$d" ;; esac
	done >unknown.txt
	test -s unknown.txt && atf_fail "C sources in folders outside the layers: $(tr '\n' ' ' <unknown.txt)"
	return 0
}

atf_test_case catches_upward_include
catches_upward_include_head()
{
	atf_set "descr" "the check itself: in a copy of the sources, an include of luks2/ planted in lib/base/," \
		"of kms/ in lib/hsm/, of cli/ in fleet/ and of plugin/ in cli/ is each reported"
}
catches_upward_include_body()
{
	for d in $FOLDERS; do
		mkdir -p "tree/$d" && cp "$SRCDIR/$d"/*.[ch] "tree/$d/"
	done
	# the copy as it is reports nothing
	upward_includes tree >before.txt
	test -s before.txt && atf_fail "the copy already reports: $(cat before.txt)"
	touch tree/plugin/plugin_only.h
	echo '#include "device.h"' >>tree/lib/base/log.c
	echo '#include "kms.h"' >>tree/lib/hsm/blob.h
	echo '#include "cli.h"' >>tree/fleet/inventory.c
	echo '#include "plugin_only.h"' >>tree/cli/list.c
	upward_includes tree >after.txt
	for want in "lib/base/log.c: includes device.h (luks2/)" "lib/hsm/blob.h: includes kms.h (kms/)" \
		"fleet/inventory.c: includes cli.h (cli/)" "cli/list.c: includes plugin_only.h (plugin/)"; do
		grep -qxF "$want" after.txt || atf_fail "not reported: $want (got: $(tr '\n' ';' <after.txt))"
	done
	test "$(wc -l <after.txt)" -eq 4 || atf_fail "reported more than planted: $(tr '\n' ';' <after.txt)"
	# a header name in two folders makes the include ambiguous
	cp tree/lib/base/log.h tree/luks2/log.h
	upward_includes tree >twice.txt
	grep -q "log.h is in both lib/base/ and luks2/" twice.txt ||
		atf_fail "a header in two folders is not reported"
}

atf_init_test_cases()
{
	atf_add_test_case includes
	atf_add_test_case include_paths
	atf_add_test_case every_folder_known
	atf_add_test_case catches_upward_include
}
