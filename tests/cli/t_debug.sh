#! @ATF_SH@
# securekey debug: wrap, unwrap, rewrap and compare secure-key files across
# master-key changes. A secure key must unwrap under the register holding
# its master key, and any damage or a missing master key must fail with
# exit 1 and a message naming the MKVP, changing nothing.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

# wrap FILE [OPTIONS...]: wrap a random (or --key-file) volume key.
wrap()
{
	_out=$1
	shift
	atf_check -s exit:0 -e empty \
		-o match:"^Secure key $_out: [a-z0-9-]+, enciphered with the [A-Z]+ master key \(MKVP [0-9a-f]{16}\)\.$" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out "$_out" "$@"
}

# expect_unwrap FILE REGISTER MKVP: FILE unwraps under REGISTER with MKVP.
expect_unwrap()
{
	atf_check -s exit:0 -e empty \
		-o match:"^Secure key $1: aes-xts-512, unwrapped with the $2 master key \(MKVP $3\) of APQNs 01\.0001,02\.0001\.$" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in "$1"
}

# change_mk: load 2 new key parts, commit and set; prints nothing.
change_mk()
{
	_n=$(ls | grep -c '^cpart')
	make_part cpart$_n.a
	make_part cpart$_n.b
	load_parts cpart$_n.a cpart$_n.b
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm set --apqns "$APQNS"
}

atf_test_case help
help_head()
{
	atf_set "descr" "debug --help and the help of each verb exit 0; usage errors exit 2"
}
help_body()
{
	atf_check -s exit:0 -e empty -o match:"^Usage: securekey debug wrap " \
		-o match:"^       securekey debug compare " "$SECUREKEY" debug --help
	atf_check -s exit:0 -e empty -o match:"^Usage: securekey debug wrap " "$SECUREKEY" debug -h
	for verb in wrap unwrap rewrap compare; do
		atf_check -s exit:0 -e empty -o match:"^Usage: securekey debug wrap " \
			"$SECUREKEY" debug $verb --help
	done
	init_set
	SK_EXIT=2
	atf_check -s exit:2 -e empty -o match:"^Usage: securekey debug wrap " "$SECUREKEY" debug
	assert_unchanged "debug: unknown command 'frob'" "$SECUREKEY" debug frob --apqns "$APQNS"
	assert_unchanged "debug wrap: --apqns is required" "$SECUREKEY" debug wrap --out b
	assert_unchanged "debug unwrap: --apqns is required" "$SECUREKEY" debug unwrap --in b
	assert_unchanged "invalid option for 'unwrap'" "$SECUREKEY" debug unwrap --apqns "$APQNS" --frob
	assert_unchanged "debug: unknown key type 'aes-xts-1024'" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out b --key-type aes-xts-1024
	assert_unchanged "wrap: unexpected argument 'extra'" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out b extra
}

atf_test_case usage_exit
usage_exit_head()
{
	atf_set "descr" "a debug verb missing --out/--in or a file exits 2 before the HSM is opened"
}
usage_exit_body()
{
	init_set
	wrap b1
	SK_EXIT=2
	assert_unchanged "debug wrap: --out FILE is required" "$SECUREKEY" debug wrap --apqns "$APQNS"
	assert_unchanged "debug unwrap: --in FILE is required" "$SECUREKEY" debug unwrap --apqns "$APQNS"
	assert_unchanged "debug rewrap: --in FILE is required" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --to current
	assert_unchanged "debug compare: give two secure-key files" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b1
	assert_unchanged "debug compare: give two secure-key files" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b1 b1 b1
	# Usage is checked before the HSM: also without one.
	rm -rf hsm
	assert_unchanged "debug wrap: --out FILE is required" "$SECUREKEY" debug wrap --apqns "$APQNS"
}

atf_test_case wrap_unwrap_current
wrap_unwrap_current_head()
{
	atf_set "descr" "wrap enciphers under CURRENT into a 0600 blob naming its MKVP; unwrap reports CURRENT"
}
wrap_unwrap_current_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	atf_check -s exit:0 -e empty \
		-o inline:"Secure key b1: aes-xts-512, enciphered with the CURRENT master key (MKVP $cur).\n" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out b1
	test "$(stat -c '%a %s' b1)" = "600 108" || atf_fail "b1 is $(stat -c '%a %s' b1)"
	atf_check -s exit:0 -o inline:"SKEY 1 2 512 $cur\n" "$PYTHON" -c '
import sys
b = open(sys.argv[1], "rb").read()
print(b[:4].decode(), b[4], b[5], int.from_bytes(b[6:8], "big"), b[8:16].hex())' b1
	expect_unwrap b1 CURRENT "$cur"
	atf_check -s exit:0 -e empty \
		-o inline:"Secure key b1: aes-xts-512, unwrapped with the CURRENT master key (MKVP $cur) of APQNs 02.0001.\n" \
		"$SECUREKEY" debug unwrap --apqns 02.0001 --in b1
	# Every key type, with its blob size.
	for t in aes-xts-512:108 aes-xts-256:76 aes-256:76 aes-192:68 aes-128:60; do
		wrap k-${t%:*} --key-type ${t%:*}
		test "$(stat -c %s k-${t%:*})" = ${t#*:} || atf_fail "${t%:*} blob is not ${t#*:} bytes"
		atf_check -s exit:0 -e empty -o match:"^Secure key k-${t%:*}: ${t%:*}, unwrapped with the CURRENT master key \(MKVP $cur\)" \
			"$SECUREKEY" debug unwrap --apqns "$APQNS" --in k-${t%:*}
	done
	# Two random volume keys differ; a blob equals itself.
	wrap b2
	atf_check -s exit:1 -e empty -o inline:"b1 and b2 hold different volume keys.\n" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b1 b2
	atf_check -s exit:0 -e empty -o inline:"b1 and b1 hold the same volume key.\n" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b1 b1
	# wrap never overwrites a file.
	assert_unchanged "cannot create b1: File exists" "$SECUREKEY" debug wrap --apqns "$APQNS" --out b1
	assert_unchanged "cannot open missing: No such file" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in missing
}

atf_test_case wrap_register_new
wrap_register_new_head()
{
	atf_set "descr" "wrap --register new works only once NEW is committed, and such a blob unwraps as NEW"
}
wrap_register_new_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	make_part p1
	make_part p2
	new=$(mkvp_of_parts p1 p2)
	assert_unchanged "the NEW register of APQN 01\.0001 is empty; load 2 or 3 key parts and run 'securekey hsm commit'" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register new
	load_parts p1
	assert_unchanged "the NEW register of APQN 01\.0001 is partial" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register new
	load_parts p2
	assert_unchanged "the NEW register of APQN 01\.0001 is full-uncommitted" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register new
	assert_unchanged "keys are never enciphered with the OLD master key; use CURRENT or NEW" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register old
	assert_unchanged "'bogus' is not a register: use old, current or new" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register bogus
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -e empty \
		-o inline:"Secure key bn: aes-xts-512, enciphered with the NEW master key (MKVP $new).\n" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out bn --register new
	test "$(blob_mkvp bn)" = "$new" || atf_fail "bn names MKVP $(blob_mkvp bn), not $new"
	expect_unwrap bn NEW "$new"
	wrap bc --register CURRENT
	expect_unwrap bc CURRENT "$cur"
	# Re-enciphering CURRENT -> NEW keeps the volume key (staged).
	cp bc bc.orig
	atf_check -s exit:0 -e empty \
		-o inline:"Secure key bs re-enciphered from the CURRENT to the NEW master key (MKVP $new).\n" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in bc --to new --out bs
	cmp -s bc bc.orig || atf_fail "rewrap --out changed its input"
	expect_unwrap bs NEW "$new"
	atf_check -s exit:0 -o match:"hold the same volume key" "$SECUREKEY" debug compare --apqns "$APQNS" bc bs
	# After set the NEW blob is CURRENT; after clear-new an uncommitted one fails.
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm set --apqns "$APQNS"
	expect_unwrap bn CURRENT "$new"
	expect_unwrap bs CURRENT "$new"
	make_part p3
	make_part p4
	load_parts p3 p4
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	wrap bn2 --register new
	n2=$(blob_mkvp bn2)
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	assert_unchanged "secure key needs master key MKVP $n2, which no register of APQNs 01\.0001,02\.0001 holds \(OLD $cur, CURRENT $new, NEW -\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in bn2
}

atf_test_case set_then_rewrap
set_then_rewrap_head()
{
	atf_set "descr" "after set an old blob unwraps as OLD; rewrap in place moves it to CURRENT, same volume key"
}
set_then_rewrap_body()
{
	init_set
	m0=$(reg_mkvp CURRENT)
	wrap b1
	cp b1 b1.orig
	expect_unwrap b1 CURRENT "$m0"
	change_mk
	m1=$(reg_mkvp CURRENT)
	test "$(reg_mkvp OLD)" = "$m0" || atf_fail "OLD is not the previous CURRENT"
	expect_unwrap b1 OLD "$m0"
	atf_check -s exit:0 -e empty \
		-o inline:"Secure key b1 re-enciphered from the OLD to the CURRENT master key (MKVP $m1).\n" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1
	test "$(stat -c '%a %s' b1)" = "600 108" || atf_fail "rewrapped b1 is $(stat -c '%a %s' b1)"
	test "$(blob_mkvp b1)" = "$m1" || atf_fail "rewrapped b1 names $(blob_mkvp b1)"
	ls | grep -q '\.tmp\.' && atf_fail "rewrap left a temporary file"
	expect_unwrap b1 CURRENT "$m1"
	expect_unwrap b1.orig OLD "$m0"
	atf_check -s exit:0 -e empty -o inline:"b1 and b1.orig hold the same volume key.\n" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b1 b1.orig
	# Explicit registers and --out.
	atf_check -s exit:0 -o match:"^Secure key b2 re-enciphered from the OLD to the CURRENT master key \(MKVP $m1\)\.$" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1.orig --from old --to current --out b2
	expect_unwrap b2 CURRENT "$m1"
	atf_check -s exit:0 -o match:"hold the same volume key" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b2 b1
	# Re-enciphering to the same register re-randomizes the blob only.
	cp b2 b2.before
	atf_check -s exit:0 -o match:"from the CURRENT to the CURRENT" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b2
	cmp -s b2 b2.before && atf_fail "rewrap produced the same blob (nonce reused?)"
	atf_check -s exit:0 -o match:"hold the same volume key" \
		"$SECUREKEY" debug compare --apqns "$APQNS" b2 b2.before
}

atf_test_case rewrap_refusals
rewrap_refusals_head()
{
	atf_set "descr" "rewrap refuses a wrong --from, --to old, an uncommitted NEW and an existing --out"
}
rewrap_refusals_body()
{
	init_set
	m0=$(reg_mkvp CURRENT)
	wrap b1
	assert_unchanged "the NEW register of APQN 01\.0001 is empty" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --to new
	change_mk
	assert_unchanged "secure key is enciphered with the OLD master key, not with the CURRENT one" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --from current
	assert_unchanged "secure key is enciphered with the OLD master key, not with the NEW one" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --from new --to current
	assert_unchanged "keys are never enciphered with the OLD master key" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --to old
	assert_unchanged "'older' is not a register" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --to older
	wrap b2
	assert_unchanged "cannot create b2: File exists" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1 --out b2
	expect_unwrap b1 OLD "$m0"
}

atf_test_case foreign_blob
foreign_blob_head()
{
	atf_set "descr" "a blob wrapped under another HSM's master key fails naming its MKVP, changing nothing"
}
foreign_blob_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	atf_check -s exit:0 -o ignore "$SECUREKEY" --hsm-dir "$PWD/other" hsm init --apqns "$APQNS"
	atf_check -s exit:0 -o ignore "$SECUREKEY" --hsm-dir "$PWD/other" debug wrap --apqns "$APQNS" --out foreign
	theirs=$(blob_mkvp foreign)
	test "$theirs" != "$cur" || atf_fail "two random master keys are equal"
	msg="secure key needs master key MKVP $theirs, which no register of APQNs 01\.0001,02\.0001 holds \(OLD -, CURRENT $cur, NEW -\)"
	assert_unchanged "$msg" "$SECUREKEY" debug unwrap --apqns "$APQNS" --in foreign
	assert_unchanged "$msg" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in foreign
	assert_unchanged "$msg" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in foreign --from current --out x
	wrap mine
	assert_unchanged "$msg" "$SECUREKEY" debug compare --apqns "$APQNS" mine foreign
	# Claiming our MKVP does not help: the tag does not verify.
	"$PYTHON" -c '
import sys
b = bytearray(open("foreign", "rb").read())
b[8:16] = bytes.fromhex(sys.argv[1])
open("forged", "wb").write(bytes(b))' "$cur"
	assert_unchanged "secure key does not verify under master key MKVP $cur: it was altered or enciphered with another key" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in forged
	# The other HSM still opens it.
	atf_check -s exit:0 -o match:"unwrapped with the CURRENT master key \(MKVP $theirs\)" \
		"$SECUREKEY" --hsm-dir "$PWD/other" debug unwrap --apqns "$APQNS" --in foreign
}

atf_test_case flipped_bytes
flipped_bytes_head()
{
	atf_set "descr" "flipping any one byte of a blob makes unwrap fail with exit 1 naming an MKVP or 'corrupt'"
	atf_set "timeout" "240"
}
flipped_bytes_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	wrap b
	# One damaged copy per byte offset (XOR 0x01, and 0xff for some), with
	# the message each must give.
	"$PYTHON" -c '
import sys
cur = sys.argv[1]
b = open("b", "rb").read()
assert len(b) == 108
with open("cases", "w") as cases:
    for off in range(len(b)):
        for mask in ((0x01, 0xff) if off % 9 == 0 or off == len(b) - 1 else (0x01,)):
            d = bytearray(b)
            d[off] ^= mask
            name = "flip-%03d-%02x" % (off, mask)
            open(name, "wb").write(bytes(d))
            if off < 4:
                want = "secure key is corrupt: bad magic \\(it names master key MKVP %s\\)" % cur
            elif off == 4:
                want = "secure key is corrupt: unsupported format version \\(it names master key MKVP %s\\)" % cur
            elif off < 8:
                want = "secure key is corrupt: (unknown key type or size|length does not match its key size) \\(it names master key MKVP %s\\)" % cur
            elif off < 16:
                want = "secure key needs master key MKVP %s, which no register of APQNs" % d[8:16].hex()
            else:
                want = "secure key does not verify under master key MKVP %s: it was altered" % cur
            cases.write("%s %s\n" % (name, want))
' "$cur"
	test "$(wc -l <cases)" -ge 108 || atf_fail "not every offset has a case"
	snapshot hsm >before
	n=0
	while read -r name want <&3; do
		cmp -s "$name" b && atf_fail "$name is not damaged"
		atf_check -s exit:1 -o empty -e match:"$want" -e match:"[0-9a-f]{16}|corrupt" \
			"$SECUREKEY" debug unwrap --apqns "$APQNS" --in "$name"
		n=$((n + 1))
	done 3<cases
	test $n -ge 108 || atf_fail "only $n damaged blobs were tried"
	snapshot hsm >after
	cmp -s before after || atf_fail "unwrapping damaged blobs changed the HSM"
	# rewrap of a damaged blob changes nothing either.
	for name in flip-000-01 flip-010-01 flip-050-01 flip-107-ff; do
		assert_unchanged "[0-9a-f]{16}|corrupt" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in "$name"
	done
	expect_unwrap b CURRENT "$cur"
}

atf_test_case bad_length_blobs
bad_length_blobs_head()
{
	atf_set "descr" "truncated, extended, empty and oversized blobs are refused as corrupt"
}
bad_length_blobs_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	wrap b
	wrap b128 --key-type aes-128
	head -c 107 b >short
	cp b128 long
	printf 'x' >>long
	cp b long108
	printf 'x' >>long108
	head -c 20 b >stub
	: >empty
	head -c 1000 /dev/zero >huge
	assert_unchanged "secure key is corrupt: length does not match its key size \(it names master key MKVP $cur\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in short
	assert_unchanged "secure key is corrupt: length does not match its key size \(it names master key MKVP $cur\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in long
	# one byte more than the longest AES blob is still under an RSA-OAEP
	# blob's length (284 bytes): read, and refused by its own key size
	assert_unchanged "secure key is corrupt: length does not match its key size \(it names master key MKVP $cur\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in long108
	head -c 285 /dev/zero >over
	assert_unchanged "over is too large \(more than 284 bytes\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in over
	assert_unchanged "secure key is corrupt: it is truncated \(it names master key MKVP" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in stub
	assert_unchanged "secure key is corrupt: it is truncated \(too short to name its master key\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in empty
	assert_unchanged "huge is too large \(more than 284 bytes\)" \
		"$SECUREKEY" debug unwrap --apqns "$APQNS" --in huge
	assert_unchanged "corrupt" "$SECUREKEY" debug compare --apqns "$APQNS" b short
}

atf_test_case key_file
key_file_head()
{
	atf_set "descr" "--key-file wraps a given volume key; a 0644, foreign-owned or wrong-size file is refused"
}
key_file_body()
{
	init_set
	head -c 64 /dev/urandom >vk
	chmod 0600 vk
	wrap k1 --key-file vk
	wrap k2 --key-file vk
	cmp -s k1 k2 && atf_fail "two wraps of one key gave the same blob"
	atf_check -s exit:0 -o inline:"k1 and k2 hold the same volume key.\n" \
		"$SECUREKEY" debug compare --apqns "$APQNS" k1 k2
	for mode in 0644 0640 0604; do
		chmod $mode vk
		assert_unchanged "volume key file vk has mode $mode and may be read by others; fix with: chmod 0600 vk" \
			"$SECUREKEY" debug wrap --apqns "$APQNS" --out k3 --key-file vk
	done
	chmod 0600 vk
	assert_unchanged "volume key file vk must hold exactly 32 bytes, it holds more than 32" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out k3 --key-file vk --key-type aes-256
	head -c 63 vk >vk63
	chmod 0600 vk63
	assert_unchanged "volume key file vk63 must hold exactly 64 bytes, it holds 63" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out k3 --key-file vk63
	assert_unchanged "cannot open volume key file nokey" \
		"$SECUREKEY" debug wrap --apqns "$APQNS" --out k3 --key-file nokey
	head -c 32 vk >vk32
	chmod 0600 vk32
	wrap k4 --key-file vk32 --key-type aes-256
	if chown 65534 vk 2>/dev/null; then
		assert_unchanged "volume key file vk is owned by uid 65534, not by you \(uid $(id -u)\); fix with: chown $(id -u) vk" \
			"$SECUREKEY" debug wrap --apqns "$APQNS" --out k3 --key-file vk
	fi
}

atf_test_case two_sets_unrefreshed
two_sets_unrefreshed_head()
{
	atf_set "descr" "after two master-key changes a blob never re-enciphered fails naming its MKVP"
}
two_sets_unrefreshed_body()
{
	init_set
	m0=$(reg_mkvp CURRENT)
	wrap stale
	wrap fresh
	change_mk
	m1=$(reg_mkvp CURRENT)
	atf_check -s exit:0 -o ignore "$SECUREKEY" debug rewrap --apqns "$APQNS" --in fresh
	change_mk
	m2=$(reg_mkvp CURRENT)
	msg="secure key needs master key MKVP $m0, which no register of APQNs 01\.0001,02\.0001 holds \(OLD $m1, CURRENT $m2, NEW -\)"
	assert_unchanged "$msg" "$SECUREKEY" debug unwrap --apqns "$APQNS" --in stale
	assert_unchanged "$msg" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in stale
	assert_unchanged "$msg" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in stale --from old
	# The blob re-enciphered after the first change is still good, as OLD.
	expect_unwrap fresh OLD "$m1"
	atf_check -s exit:0 -o match:"from the OLD to the CURRENT master key \(MKVP $m2\)" \
		"$SECUREKEY" debug rewrap --apqns "$APQNS" --in fresh
	expect_unwrap fresh CURRENT "$m2"
}

atf_test_case apqns_disagree
apqns_disagree_head()
{
	atf_set "descr" "wrap and unwrap refuse APQNs whose CURRENT master keys differ"
}
apqns_disagree_body()
{
	init_set 01.0001
	init_set 02.0001
	m1=$(reg_mkvp CURRENT 01.0001)
	m2=$(reg_mkvp CURRENT 02.0001)
	atf_check -s exit:0 -o ignore "$SECUREKEY" debug wrap --apqns 01.0001 --out b1
	msg="APQNs 01\.0001 and 02\.0001 hold different CURRENT master keys \(MKVP $m1 and $m2\)"
	assert_unchanged "$msg" "$SECUREKEY" debug wrap --apqns "$APQNS" --out b2
	assert_unchanged "$msg" "$SECUREKEY" debug unwrap --apqns "$APQNS" --in b1
	assert_unchanged "$msg" "$SECUREKEY" debug rewrap --apqns "$APQNS" --in b1
	assert_unchanged "is not an APQN" "$SECUREKEY" debug unwrap --apqns 1.1 --in b1
	assert_unchanged "APQN 03\.0001 is unknown to the soft HSM" \
		"$SECUREKEY" debug unwrap --apqns 03.0001 --in b1
	atf_check -s exit:0 -o match:"unwrapped with the CURRENT master key \(MKVP $m1\) of APQNs 01\.0001\." \
		"$SECUREKEY" debug unwrap --apqns 01.0001 --in b1
}

atf_init_test_cases()
{
	atf_add_test_case help
	atf_add_test_case usage_exit
	atf_add_test_case wrap_unwrap_current
	atf_add_test_case wrap_register_new
	atf_add_test_case set_then_rewrap
	atf_add_test_case rewrap_refusals
	atf_add_test_case foreign_blob
	atf_add_test_case flipped_bytes
	atf_add_test_case bad_length_blobs
	atf_add_test_case key_file
	atf_add_test_case two_sets_unrefreshed
	atf_add_test_case apqns_disagree
}
