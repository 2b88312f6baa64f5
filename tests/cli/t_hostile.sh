#! @ATF_SH@
# Hostile input (issue 7, item 6): a corpus of hand-made bad LUKS2 headers
# and securekey tokens (tests/hostile/make_headers.py: wrong JSON types of
# every token field, huge strings, duplicate keys, 32 and 100 tokens, two
# securekey tokens, keyslot and token id overflow, bytes that are not UTF-8,
# embedded NULs, truncated base64, blobs of the wrong length, type or MKVP,
# deep nesting, unknown versions, a UUID that climbs out of directories...)
# run through every command of securekey-cryptsetup, 'securekey list' and
# 'securekey reencipher' on a path, and the real cryptsetup with the plugin
# (open by token, luksDump). For every image and every command:
#
# - no crash and no hang: the exit status is 0, 1 or 2, never a signal or a
#   sanitizer abort, and the command ends within HOSTILE_TIMEOUT seconds
#   (one exception, reported but not failed: cryptsetup itself aborting on
#   an assertion of libcryptsetup, with or without the plugin);
# - a refusal changes nothing: no file of the work directory (the image, the
#   HSM, the state with its header backups, key files) is created, removed
#   or written (type, mode, size, inode, mtime in ns: after every command of
#   the writers case; before and after the commands of each image in the
#   readers case, whose commands only read), and the image keeps its sha256
#   (after the commands of each image); the lock directory is the only
#   exception;
# - a refusal says why, on stderr, in at most 3 lines, naming the image (the
#   batch 'securekey reencipher' names it in its report), and for the images
#   whose manifest line says why (unloadable header, invalid token, no
#   token, two tokens), what it says matches;
# - an image that must be refused (unloadable header, invalid token) is
#   refused by every command; an odd but valid token may be acted on, but a
#   read-only command writes nothing and a writing one writes only the image,
#   its header backup (state/backup/UUID/) and its known-volume entry
#   (state/volumes/UUID);
# - what validate --json prints is well-formed JSON (UTF-8).
#
# The manifest (hi/manifest.tsv, see make_headers.py) says what each image
# is and what is expected of it. tests/hostile/run_series.sh runs the
# commands over the corpus and records what happened (the readers case runs
# them on the images of hi/ themselves, the writers case on a copy, taken
# again after each successful write); the judge below then checks it all,
# and a test case fails once, listing every failed check (image, command,
# exit status, output). HOSTILE_ONLY (blank-separated shell patterns)
# restricts a run to some images when debugging; HOSTILE_LIST=each makes the
# readers case list the work directory after every command.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

MAKE_HEADERS=@abs_top_srcdir@/tests/hostile/make_headers.py
RUN_SERIES=@abs_top_srcdir@/tests/hostile/run_series.sh

# Seconds after which a command counts as hung (a refusal takes milliseconds).
export HOSTILE_TIMEOUT=${HOSTILE_TIMEOUT:-60}

# hostile_head: what every test case here needs.
hostile_head()
{
	common_head timeout find awk sha256sum "$@"
	# Thousands of commands; a loaded CI machine may need a while.
	atf_set "timeout" 900
}

# corpus [--no-check]: the base images (plain, with a staged key, with 2M of
# metadata), a NEW master key committed (so that a write command on a valid
# token has work to do), and the hostile images with their manifest in hi/.
corpus()
{
	setup
	mkimg plain.base
	enroll plain.base
	mkimg staged.base
	enroll staged.base
	# mkimg makes 4 MiB images with 16k of metadata: 2 x 2M + 1M keyslots here.
	truncate -s 8M big.base
	cryptsetup luksFormat --type luks2 --luks2-metadata-size 2M --luks2-keyslots-size 1M \
		--batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pass big.base \
		>luksformat.log 2>&1 || atf_fail "cryptsetup luksFormat big.base failed: $(cat luksformat.log)"
	enroll big.base
	new_mk n1
	atf_check -s exit:0 -o match:"kept as staged" -e empty \
		"$CR" reencipher staged.base --staged --key-file pass
	atf_check -s exit:0 -o match:"^[0-9]+ hostile images in hi\$" -e empty \
		"$PYTHON" "$MAKE_HEADERS" hi plain=plain.base staged=staged.base big=big.base "$@"
	rm -f plain.base staged.base big.base luksformat.log
	test "$(wc -l <hi/manifest.tsv)" -ge 50 || atf_fail "fewer than 50 hostile images"
}

# over_corpus SPEC...: run_series.sh in a private mount namespace in which
# libcryptsetup finds this build's plugin (as in ./pcs), then judge.
over_corpus()
{
	_dir=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	PCS_PRELOAD=$(ldd "$PLUGIN_DIR/libcryptsetup-token-securekey.so" | awk '/libasan/ { print $3 }')
	export CR SECUREKEY PCS_PRELOAD
	# Its stderr has the shell's notes on commands killed by a signal
	# ("Aborted"): the judge says more.
	mkdir -p out
	unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec sh "$@"' nsrun \
		"$PLUGIN_DIR" "${_dir:-/lib/x86_64-linux-gnu/cryptsetup}" "$RUN_SERIES" hi out "$@" \
		2>out/runner.log || atf_fail "run_series.sh failed: $(tail -5 out/runner.log)"
	judge
}

# judge: check out/index against hi/manifest.tsv (see the head of this file);
# every failed check goes to out/failures, with the command's output.
judge()
{
	OUT=out awk -F '\t' '
	function fail(why,    f, i, k, line) {
		nfail++
		printf "%s: %s: %s (exit %s)\n", img, cmd, why, rc >>failures
		for (i = 0; i < 2; i++) {
			f = prefix (i ? ".out" : ".err")
			k = 0
			while (k++ < 6 && (getline line <f) > 0)
				printf "\t%s: %s\n", i ? "stdout" : "stderr", line >>failures
			close(f)
		}
	}
	# The entries of listing file F as paths -> their line, into A.
	function load(f, a,    line, p) {
		while ((getline line <f) > 0) {
			p = line
			sub(/^[^ ]* [^ ]* [^ ]* [^ ]* [^ ]* /, "", p)
			a[p] = line
		}
		close(f)
	}
	# The paths whose entry differs between listings F and G.
	function changes(f, g,    a, b, p, s) {
		split("", a)
		split("", b)
		load(f, a)
		load(g, b)
		s = ""
		for (p in a)
			if (!(p in b) || a[p] != b[p])
				s = s " " p
		for (p in b)
			if (!(p in a))
				s = s " " p
		return s
	}
	# Lines of file F, whether one of them contains IMG or matches RE.
	function scan(f,    line) {
		while ((getline line <f) > 0) {
			lines++
			if (index(line, img))
				named = 1
			if (re != "-" && line ~ re)
				said = 1
			if (line ~ /Sanitizer|runtime error:|Assertion .* failed|double free|stack smashing/)
				report = 1
		}
		close(f)
	}
	BEGIN {
		out = ENVIRON["OUT"]
		failures = out "/failures"
		upstream = out "/upstream"
		each = ENVIRON["HOSTILE_LIST"] != "image"
		jsonlist = out "/json-outputs"
		printf "" >jsonlist
		printf "" >failures
		# What a successful write may change besides the image: its header
		# backups, the known-volume entry, and with export its --out file.
		# A header UUID that climbs out ("../x") would put them elsewhere.
		allowed = "^\\./(state|state/backup|state/volumes|state/backup/[0-9a-f-]+(/[^/]+)?|state/volumes/[0-9a-f-]+)$"
	}
	FNR == NR {
		expect[$1] = $2
		loadable[$1] = $3
		why[$1] = $4
		next
	}
	$2 == "sha256" {
		img = $1 ".img"
		cmd = "the commands of the image"
		rc = "-"
		prefix = out "/none"
		if ($3 != "same")
			fail("the image is not as it was (sha256)")
		if (!each) {
			# Listed before the first and after the last command only.
			cmd = cmd " (HOSTILE_LIST=each HOSTILE_ONLY=" $1 " tells which)"
			ch = changes($4, $5)
			if (ch != "")
				fail("a read-only command changed:" ch)
		}
		images++
		next
	}
	{
		name = $1; n = $2; kind = $3; rc = $4; undone = $5; up = $6; cmd = $7
		img = name ".img"
		prog = kind
		sub(/-.*/, "", prog)
		split(cmd, w, " ")
		sub_ = w[2]
		prefix = out "/" name "." n
		ran++
		e = expect[name]
		dot = img
		gsub(/\./, "[.]", dot)
		re = why[name]
		if (e == "unloadable")
			re = "(^|[ \t/])" dot " " re
		else if (e == "notoken")
			re = "has no securekey token" (why[name] == "-" ? "" : "|" why[name])
		else if (e == "twotokens")
			re = dot " " re
		if (prog == "pcs" || (e == "notoken" && prog == "cr" && sub_ == "enroll"))
			re = "-"
		ch = ""
		if (each)
			ch = changes(out "/" name "." (n - 1) ".list", prefix (undone ? ".pre" : ".list"))
		if (rc == 0 && prog == "cr" && sub_ == "validate" && cmd ~ / --json$/)
			print prefix ".out" >jsonlist

		lines = named = said = report = 0
		scan(prefix ".err")
		errlines = lines
		errnamed = named
		scan(prefix ".out")

		if (up) {
			print img ": " cmd ": libcryptsetup aborts on it with or without the plugin" >>upstream
		} else if (rc == 124 || rc == 137) {
			fail("HANG: no end within " ENVIRON["HOSTILE_TIMEOUT"] " s")
		} else if (rc > 2) {
			fail("CRASH: killed by a signal or aborted by a sanitizer")
		}
		if (report && !up)
			fail("a sanitizer or libc error report")
		if (prog == "pcs" && sub_ == "luksDump" && (loadable[name] == "yes") != (rc == 0))
			fail("cryptsetup luksDump with the plugin must load exactly the loadable images")
		if (rc != 0) {
			if (ch != "")
				fail("refused but changed:" ch)
			if (!each && undone)
				fail("refused but wrote hostile.skey")
			if (prog == "pcs")
				next
			if (kind == "sk-w") {
				if (!named)
					fail("the report does not name the image")
			} else {
				if (errlines == 0)
					fail("refused without a message on stderr")
				else if (errlines > 3)
					fail("more than 3 lines on stderr")
				if (errlines && !errnamed)
					fail("the message on stderr does not name the image")
			}
			if (re != "-" && !said)
				fail("the message does not say /" re "/")
			next
		}
		if (!(e == "valid" || (e == "notoken" && prog == "cr" && sub_ == "enroll") ||
		      (prog == "pcs" && sub_ == "luksDump") || (e == "twotokens" && prog == "pcs")))
			fail("an image that must be refused was accepted")
		if (ch == "")
			next
		if (kind ~ /-r$/) {
			fail("a read-only command changed:" ch)
			next
		}
		nc = split(ch, paths, " ")
		bad = ""
		for (i = 1; i <= nc; i++) {
			p = paths[i]
			if (p == "./" img || (kind == "cr-o" ? p == "./hostile.skey" : p ~ allowed))
				continue
			bad = bad " " p
		}
		if (bad != "")
			fail("wrote outside the image and its state:" bad)
	}
	END {
		printf "%d images, %d commands run, %d failed checks\n", images, ran, nfail
	}' hi/manifest.tsv out/index >&2
	# What validate --json printed must be JSON (RFC 8259: UTF-8), whatever
	# bytes the token holds.
	"$PYTHON" -c '
import json, os, sys
for path in open(sys.argv[1]).read().split():
    raw = open(path, "rb").read()
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError as e:
        img = os.path.basename(path).rsplit(".", 2)[0] + ".img"
        print("%s: cr validate %s --json: printed text that is not well-formed JSON: %s (exit 0)"
              % (img, img, e))
        print("\tstdout: %r" % raw[:400])
' out/json-outputs >>out/failures
	if [ -s out/upstream ]; then
		echo "libcryptsetup itself aborted (not a securekey bug):" >&2
		cat out/upstream >&2
	fi
	if [ -s out/failures ]; then
		cat out/failures >&2
		atf_fail "$(grep -c '^[^	]' out/failures) failed checks over the hostile images (see stderr): $(grep '^[^	]' out/failures | head -5 | tr '\n' ';')"
	fi
}

atf_test_case readers
readers_head()
{
	hostile_head
	atf_set "descr" "validate, validate --json, open --test-passphrase, export, securekey list," \
		"and cryptsetup with the plugin (open by token, luksDump) over every hostile image:" \
		"no crash or hang, a refusal names the image, nothing written, validate --json" \
		"prints JSON; luksDump loads exactly the images the manifest says are loadable"
}
readers_body()
{
	corpus --no-check
	# Read-only commands: the work directory is listed before and after the
	# commands of each image, which run on hi/NAME.img itself.
	export HOSTILE_LIST=${HOSTILE_LIST:-image}
	# A sanitizer build parses every other image (the fuzz corpora replayed
	# by unit/t_corpus cover the parsers under ASan too); the default build
	# all of them.
	sanitized && export HOSTILE_EVERY=${HOSTILE_EVERY:-2}
	over_corpus "cr-r validate @" "cr-r validate @ --json" \
		"cr-r open @ --test-passphrase" "cr-o export @ --out hostile.skey" "sk-r list @" \
		"pcs-r open --test-passphrase --token-only @" "pcs-r luksDump @"
}

atf_test_case writers
writers_head()
{
	hostile_head
	atf_set "descr" "reencipher, setkey, refresh, remove, enroll and securekey reencipher PATH" \
		"over every hostile image: no crash or hang, a refusal names the image and changes" \
		"nothing, a write stays inside the image and its state"
}
writers_body()
{
	corpus --no-check
	export HOSTILE_LIST=each
	# In a sanitizer build the images every command refuses while parsing
	# (unloadable, invalid) are left to the readers case, which parses them
	# under the sanitizers too: the writers take the ones they may write.
	sanitized && export HOSTILE_EXPECT=${HOSTILE_EXPECT:-valid notoken twotokens}
	over_corpus "cr-w reencipher @ --key-file pass" "cr-w setkey @ --key-file pass" \
		"cr-w refresh @" "cr-w remove @ --key-file pass" \
		"cr-w enroll @ --apqns $APQNS --key-file pass" "sk-w reencipher @ --key-file pass"
}

atf_test_case escapes cleanup
escapes_head()
{
	hostile_head openssl
	atf_set "require.files" "/usr/bin/pykmip-server /usr/bin/python3"
	atf_set "descr" "kms.key_id, kms.servers and kms.name with newlines and '<0>', escape" \
		"sequences, C1 controls and bytes that are not UTF-8 reach no terminal and no log raw:" \
		"the plugin (open --debug, luksDump), validate, open, refresh, list, securekey-udev" \
		"check and refresh (journal stream and a stand-in /dev/kmsg) print them escaped, one" \
		"log line a message"
}
escapes_body()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	UDEV=$SK_BUILDDIR/cli/securekey-udev
	# A KMS configured, so that a fetch reaches the check of the servers the
	# header names (it names kmip://127.0.0.1:1, which is not configured).
	kms_setup
	mkimg plain.base
	enroll plain.base
	atf_check -s exit:0 -o match:"^[0-9]+ hostile images in hi\$" -e ignore \
		"$PYTHON" "$MAKE_HEADERS" hi plain=plain.base --no-check
	rm -f plain.base
	test "$(wc -l <hi/escapes.tsv)" -ge 8 || atf_fail "fewer than 8 images in hi/escapes.tsv"
	# The keys are then under no register: the plugin and refresh go to the KMS.
	change_mk_twice
	_dir=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	PCS_PRELOAD=$(ldd "$PLUGIN_DIR/libcryptsetup-token-securekey.so" | awk '/libasan/ { print $3 }')
	export CR SECUREKEY UDEV PCS_PRELOAD JOURNAL_STREAM=8:1 HOSTILE_ONLY='esc-*' HOSTILE_LIST=each
	mkdir -p out
	unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec sh "$@"' nsrun \
		"$PLUGIN_DIR" "${_dir:-/lib/x86_64-linux-gnu/cryptsetup}" "$RUN_SERIES" hi out \
		"pcs-r open --debug --test-passphrase --token-only --token-type securekey @" \
		"pcs-r luksDump @" "cr-r validate @" "cr-r validate @ --json" \
		"cr-r open @ --test-passphrase" "cr-w refresh @" "sk-r list @" \
		"ud-r check @ --debug" "ud-w refresh @" \
		2>out/runner.log || atf_fail "run_series.sh failed: $(tail -5 out/runner.log)"
	# The kernel log: a FIFO in place of /dev/kmsg (in a private mount
	# namespace), read into out/NAME.kmsg; no JOURNAL_STREAM, so the helper
	# writes there.
	mkfifo kmsg
	cat >kmsg.sh <<'EOF2'
set -e
mount --bind "$PWD/kmsg" /dev/kmsg
cut -f 1 hi/escapes.tsv | sort -u | while read -r name; do
	exec 3<>kmsg
	cat kmsg >"out/$name.kmsg" 3>&- &
	env -u JOURNAL_STREAM "$UDEV" refresh "hi/$name.img" 2>"out/$name.kmsg.err" || :
	exec 3>&-
	wait
done
EOF2
	atf_check -s exit:0 -o empty -e empty unshare -m sh kmsg.sh
	atf_check -s exit:0 -o match:"^[0-9]+ outputs checked\$" -e empty "$PYTHON" - <<'EOF2'
import os, re, sys

fails = []
def fail(what, why, data=b""):
    fails.append("%s: %s\n\t%r" % (what, why, data[:300]))

def raw_controls(what, data, tabs):
    """No byte that a terminal or a log takes for a control reaches it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return fail(what, "bytes that are not UTF-8 (%s)" % e, data)
    for line in text.split("\n"):
        bad = [c for c in line if (ord(c) < 0x20 and not (tabs and c == "\t")) or
               0x7f <= ord(c) <= 0x9f]
        if bad:
            return fail(what, "raw control characters %r" % bad, line.encode())
        if line.startswith("<0>") or "securekey: EMERGENCY" in line and not "\\n<0>" in line:
            return fail(what, "a line of its own from the header", line.encode())

def read(path):
    with open(path, "rb") as f:
        return f.read()

escapes = {}
for line in open("hi/escapes.tsv", encoding="utf-8"):
    name, field, text = line.rstrip("\n").split("\t")
    escapes.setdefault(name, []).append((field, text))
checked = 0
for line in open("out/index", encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if f[1] == "sha256":
        if f[2] != "same":
            fail(f[0], "the image was written")
        continue
    name, n, kind, rc, undone, up, cmd = f
    what = "%s: %s (exit %s)" % (name, cmd, rc)
    out, err = read("out/%s.%s.out" % (name, n)), read("out/%s.%s.err" % (name, n))
    checked += 2
    # libcryptsetup aligns luksDump with tabs (a tab from the header must
    # show as \\t: see the escaped text below)
    raw_controls(what + " stdout", out, cmd.startswith("pcs "))
    raw_controls(what + " stderr", err, cmd.startswith("pcs "))
    if int(rc) > 2:
        fail(what, "crashed", err)
    both = (out + err).decode("utf-8", "replace")
    for field, text in escapes.get(name, []):
        want = []
        if cmd.startswith("cr validate") and not cmd.endswith("--json"):
            want = [text]
        elif cmd.startswith("pcs luksDump") and field != "name":
            want = [text]
        elif cmd.startswith("pcs open") and field == "key_id":
            want = [text]
        elif cmd.startswith("ud refresh") and field != "name":
            # the helper's line keeps the start of each message
            want = [text[:40]]
        for w in want:
            if w not in both:
                fail(what, "does not show the %s escaped as %r" % (field, w), out + err)
    if cmd.startswith("ud refresh"):
        lines = err.split(b"\n")
        if len(lines) != 2 or lines[1] or not re.match(rb"^<4>securekey-udev: %s\.img: " % name.encode(), lines[0]):
            fail(what, "not one '<4>securekey-udev: IMG: ' line", err)
for name in escapes:
    what = "%s: securekey-udev refresh to the kernel log" % name
    data, err = read("out/%s.kmsg" % name), read("out/%s.kmsg.err" % name)
    checked += 1
    raw_controls(what, data, False)
    lines = data.split(b"\n")
    if len(lines) != 2 or lines[1] or not re.match(rb"^<4>securekey-udev: hi/%s\.img: " % name.encode(), lines[0]):
        fail(what, "not one '<4>securekey-udev: hi/IMG: ' record", data)
    if err:
        fail(what, "wrote on stderr", err)
for f in fails:
    print(f, file=sys.stderr)
print("%d outputs checked" % checked)
sys.exit(1 if fails else 0)
EOF2
}
escapes_cleanup()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	kms_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case readers
	atf_add_test_case writers
	atf_add_test_case escapes
}
