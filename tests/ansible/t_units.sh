#! @ATF_SH@
# The collection securekey.fleet (ansible/) on its own, without a host: its
# unit tests under ansible-test (ansible/tests/unit, the tools mocked with
# their saved JSON), its documentation as ansible-doc shows it, the
# collection built and installed by ansible-galaxy, and the sanity tests of
# ansible-test that run offline with Debian's packages.
#
# Each case works on a copy of the collection in
# ./ansible_collections/securekey/fleet (ansible-test runs only in such a
# tree, and writes its tests/output there).
#
# The programs (ansible-core, python3-pytest and its plugins) are installed
# by build.sh: a missing one fails the case, it is not skipped, so there is
# no require.progs here; need_progs says what is missing.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. @abs_top_srcdir@/tests/cli/common.sh

COLLECTION_SRC=$SK_SRCDIR/ansible
COLL=$PWD/ansible_collections/securekey/fleet
MODULES="securekey_info securekey_volume securekey_reencipher"
# The Python that ansible-core runs on (its programs' #! line).
PYV=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# The tests of ansible-test sanity that need nothing from PyPI: the others
# (validate-modules, import, pylint, pep8, yamllint, ansible-doc,
# runtime-metadata) install their requirements into a venv with pip, which
# needs the network.
# The shellcheck test (of make-fixtures.sh) only where it is installed: build.sh
# does not install it.
OFFLINE_SANITY="action-plugin-docs compile empty-init line-endings no-assert no-get-exception
no-illegal-filenames no-main-display no-smart-quotes replace-urlopen shebang symlinks
use-argspec-type-path use-compat-six"
if command -v shellcheck >/dev/null 2>&1; then
	OFFLINE_SANITY="$OFFLINE_SANITY shellcheck"
fi

# need_progs PROG...: fail, naming build.sh, unless each PROG is installed.
need_progs()
{
	for _p in "$@"; do
		command -v "$_p" >/dev/null 2>&1 ||
			atf_fail "$_p is not installed (build.sh installs ansible-core, python3-pytest, python3-pytest-xdist, python3-pytest-forked, python3-pytest-mock, python3-mock)"
	done
}

# copy_collection: the collection in $COLL, without its tests/output.
copy_collection()
{
	mkdir -p "$COLL/tests" || atf_fail "cannot create $COLL"
	for _f in "$COLLECTION_SRC"/* "$COLLECTION_SRC"/.[!.]*; do
		[ -e "$_f" ] || continue
		[ "${_f##*/}" = tests ] && continue
		cp -r "$_f" "$COLL/" || atf_fail "cannot copy $_f"
	done
	for _f in "$COLLECTION_SRC"/tests/*; do
		[ -e "$_f" ] || continue
		[ "${_f##*/}" = output ] && continue
		cp -r "$_f" "$COLL/tests/" || atf_fail "cannot copy $_f"
	done
	export ANSIBLE_COLLECTIONS_PATH="$PWD"
	export ANSIBLE_NOCOLOR=1
}

# ------------------------------------------------------------ units

atf_test_case units
units_head()
{
	atf_set "descr" "ansible-test units runs the collection's unit tests and every one passes"
	atf_set "timeout" "600"
}
units_body()
{
	need_progs ansible-test
	"$PYTHON" -c 'import pytest, xdist, pytest_forked, pytest_mock, mock' 2>err ||
		atf_fail "pytest or a plugin of it is missing (build.sh installs them): $(cat err)"
	copy_collection
	(cd "$COLL" && ansible-test units --local --python "$PYV" --python-interpreter "$PYTHON") \
		>units.log 2>&1 || {
		cat units.log >&2
		atf_fail "ansible-test units failed"
	}
	# Every group (modules, module_utils, controller) leaves a JUnit file;
	# together they must count tests, and no failure, error or skip, and
	# each test file of the collection must have run.
	"$PYTHON" - "$COLL/tests/output/junit" "$COLL/tests/unit" >junit.txt 2>&1 <<'EOF' || {
import os, sys
import xml.etree.ElementTree as ET
junit, unit = sys.argv[1], sys.argv[2]
files = sorted(f for f in os.listdir(junit) if f.endswith('.xml')) if os.path.isdir(junit) else []
if not files:
    sys.exit('no JUnit file in %s' % junit)
counts = dict(tests=0, failures=0, errors=0, skipped=0)
ran = set()
for name in files:
    root = ET.parse(os.path.join(junit, name)).getroot()
    for suite in ([root] if root.tag == 'testsuite' else root.iter('testsuite')):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        for case in suite.iter('testcase'):
            ran.add(case.get('classname', '').split('.')[-1])
print('%s: %s' % (' '.join(files), ' '.join('%s=%d' % kv for kv in sorted(counts.items()))))
wanted = set(f[:-3] for _, _, fs in os.walk(unit) for f in fs
             if f.startswith('test_') and f.endswith('.py'))
if counts['tests'] == 0:
    sys.exit('pytest ran no test')
if counts['failures'] or counts['errors'] or counts['skipped']:
    sys.exit('not every test passed')
if not wanted <= ran:
    sys.exit('no test ran from %s' % ', '.join(sorted(wanted - ran)))
EOF
		cat units.log junit.txt >&2
		atf_fail "unit tests: $(tail -n 1 junit.txt)"
	}
	cat junit.txt
	grep -Eq '^=+ [0-9]+ passed in ' units.log || atf_fail "no pytest summary line in units.log"
	if grep -E '^=+ .*(failed|error)' units.log >&2; then
		atf_fail "pytest reported failures"
	fi
}

# ------------------------------------------------------------ docs

atf_test_case docs
docs_head()
{
	atf_set "descr" "ansible-doc shows every module and the filter with their options; DOCUMENTATION, EXAMPLES and RETURN are YAML"
	atf_set "timeout" "300"
}
docs_body()
{
	need_progs ansible-doc
	copy_collection
	_found=$(cd "$COLL/plugins/modules" && ls -- *.py | sed 's/\.py$//' | grep -v '^__init__$' |
		LC_ALL=C sort | tr '\n' ' ')
	_want=$(echo $MODULES | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ')
	[ "$_found" = "$_want" ] ||
		atf_fail "plugins/modules holds '$_found', the test knows '$_want': update MODULES"

	# The YAML blocks of every plugin, parsed the way ansible-doc reads them
	# (the literal assigned at module level); a description must be text,
	# which ': ' in a plain scalar silently turns into a mapping.
	atf_check -s exit:0 -o save:options.txt -e empty "$PYTHON" - "$COLL" <<'EOF'
import ast, glob, os, sys
import yaml
coll = sys.argv[1]
bad = []

def descriptions(node, where):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'description':
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, str):
                        bad.append('%s: description is not text: %r' % (where, item))
            descriptions(value, '%s.%s' % (where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            descriptions(value, '%s[%d]' % (where, i))

# Documentation fragments: the DOCUMENTATION of their ModuleDocFragment
# class, whose options the modules that extend it show too.
fragments = {}
for path in sorted(glob.glob(os.path.join(coll, 'plugins', 'doc_fragments', '*.py'))):
    rel = os.path.relpath(path, coll)
    texts = [n.value.value for c in ast.parse(open(path).read()).body
             if isinstance(c, ast.ClassDef) for n in c.body
             if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', None) == 'DOCUMENTATION']
    if not texts:
        bad.append('%s: no DOCUMENTATION in its ModuleDocFragment' % rel)
        continue
    try:
        frag = yaml.safe_load(texts[0])
    except yaml.YAMLError as e:
        bad.append('%s: DOCUMENTATION is not YAML: %s' % (rel, str(e).replace('\n', ' ')))
        continue
    descriptions(frag, '%s DOCUMENTATION' % rel)
    name = 'securekey.fleet.' + os.path.basename(path)[:-3]
    fragments[name] = sorted((frag or {}).get('options') or {})

for path in sorted(glob.glob(os.path.join(coll, 'plugins', '*', '*.py'))):
    kind = os.path.basename(os.path.dirname(path))
    if kind in ('module_utils', 'doc_fragments') or path.endswith('__init__.py'):
        continue
    rel = os.path.relpath(path, coll)
    blocks = {}
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                getattr(node.targets[0], 'id', None) in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
            blocks[node.targets[0].id] = node.value.value
    for name in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
        if name not in blocks:
            bad.append('%s: no %s' % (rel, name))
            continue
        try:
            blocks[name] = yaml.safe_load(blocks[name])
        except yaml.YAMLError as e:
            bad.append('%s: %s is not YAML: %s' % (rel, name, str(e).replace('\n', ' ')))
            continue
        descriptions(blocks[name], '%s %s' % (rel, name))
    doc = blocks.get('DOCUMENTATION')
    if not isinstance(doc, dict):
        continue
    if not isinstance(blocks.get('EXAMPLES'), list) or not blocks['EXAMPLES']:
        bad.append('%s: EXAMPLES is not a list of tasks' % rel)
    if not isinstance(blocks.get('RETURN'), dict):
        bad.append('%s: RETURN is not a mapping' % rel)
    name = doc.get('module') or doc.get('name')
    options = set(doc.get('options') or {})
    for frag in doc.get('extends_documentation_fragment') or []:
        if frag not in fragments:
            bad.append('%s: unknown documentation fragment %s' % (rel, frag))
        options.update(fragments.get(frag, []))
    print('%s %s %s' % (kind, name, ' '.join(sorted(options))))
if bad:
    sys.exit('\n'.join(bad))
EOF

	for _m in $MODULES; do
		ansible-doc -t module "securekey.fleet.$_m" >"doc-$_m.txt" 2>"doc-$_m.err" ||
			atf_fail "ansible-doc -t module securekey.fleet.$_m: $(cat "doc-$_m.err")"
		check_options "doc-$_m.txt" "modules $_m"
	done
	ansible-doc -t filter securekey.fleet.securekey_not_ready >doc-filter.txt 2>doc-filter.err ||
		atf_fail "ansible-doc -t filter securekey.fleet.securekey_not_ready: $(cat doc-filter.err)"
	check_options doc-filter.txt "filter securekey_not_ready"
	grep -q '^= hosts$' doc-filter.txt || atf_fail "the filter's hosts option is not shown as mandatory"

	atf_check -s exit:0 -o save:list.txt -e ignore ansible-doc --list securekey.fleet
	for _m in $MODULES; do
		grep -Eq "^securekey\.fleet\.$_m " list.txt ||
			atf_fail "ansible-doc --list securekey.fleet does not list $_m: $(cat list.txt)"
	done
	test "$(grep -c '^securekey\.fleet\.' list.txt)" = 3 ||
		atf_fail "ansible-doc --list securekey.fleet lists other than the three modules: $(cat list.txt)"
	atf_check -s exit:0 -o match:'^securekey\.fleet\.securekey_not_ready ' -e ignore \
		ansible-doc -t filter --list securekey.fleet
}

# check_options FILE "KIND NAME": ansible-doc's text in FILE shows the
# description and every option that options.txt names for KIND NAME.
check_options()
{
	_opts=$(awk -v k="${2% *}" -v n="${2#* }" '$1 == k && $2 == n { for (i = 3; i <= NF; i++) print $i }' options.txt)
	[ -n "$_opts" ] || atf_fail "$2: no options in its DOCUMENTATION"
	grep -q '^OPTIONS (= is mandatory):' "$1" || atf_fail "$1: no OPTIONS section"
	for _o in $_opts; do
		grep -Eq "^[-=] $_o\$" "$1" || atf_fail "ansible-doc of $2 does not show option $_o"
	done
}

# ------------------------------------------------------------ galaxy

atf_test_case galaxy
galaxy_head()
{
	atf_set "descr" "ansible-galaxy builds the collection, and installs the tarball offline with its modules, role and playbook"
	atf_set "timeout" "300"
}
galaxy_body()
{
	need_progs ansible-galaxy ansible-doc ansible-playbook
	copy_collection
	# Output a build must leave out.
	mkdir -p "$COLL/tests/output/junit"
	echo stale >"$COLL/tests/output/junit/old.xml"
	atf_check -s exit:0 -o match:'^Created collection for securekey\.fleet at ' -e ignore \
		ansible-galaxy collection build "$COLL" --output-path "$PWD/dist"
	_tgz=$(ls dist/securekey-fleet-*.tar.gz)
	[ -f "$_tgz" ] || atf_fail "no tarball in dist: $(ls dist)"
	if tar -tzf "$_tgz" | grep -E '(^|/)tests/output/'; then
		atf_fail "the tarball holds tests/output"
	fi

	# An empty collections path: only the tarball can provide it.
	export ANSIBLE_COLLECTIONS_PATH="$PWD/installed"
	atf_check -s exit:0 -o match:'securekey\.fleet:.* was installed successfully' -e ignore \
		ansible-galaxy collection install --offline -p "$PWD/installed" "$_tgz"
	_inst=installed/ansible_collections/securekey/fleet
	for _f in MANIFEST.json FILES.json meta/runtime.yml \
		plugins/module_utils/securekey.py plugins/filter/securekey.py \
		roles/rotate/tasks/main.yml roles/rotate/tasks/stage.yml roles/rotate/tasks/set.yml \
		roles/rotate/tasks/complete.yml roles/rotate/handlers/main.yml \
		roles/rotate/defaults/main.yml roles/rotate/meta/argument_specs.yml \
		playbooks/rotate.yml; do
		[ -s "$_inst/$_f" ] || atf_fail "the installed collection has no $_f"
	done
	for _m in $MODULES; do
		cmp -s "$COLLECTION_SRC/plugins/modules/$_m.py" "$_inst/plugins/modules/$_m.py" ||
			atf_fail "the installed $_m differs from ansible/plugins/modules/$_m.py"
	done
	atf_check -s exit:0 -o match:'"namespace": "securekey"' -o match:'"name": "fleet"' \
		cat "$_inst/MANIFEST.json"

	# The installed copy is usable: its modules, role and playbook.
	atf_check -s exit:0 -o save:list.txt -e ignore ansible-doc --list securekey.fleet
	for _m in $MODULES; do
		grep -q "^securekey\.fleet\.$_m " list.txt || atf_fail "installed: ansible-doc does not list $_m"
	done
	atf_check -s exit:0 -o match:'^securekey\.fleet\.rotate stage ' -o match:'^securekey\.fleet\.rotate complete ' \
		-e ignore ansible-doc -t role --list securekey.fleet
	atf_check -s exit:0 -o match:'playbook: .*/installed/ansible_collections/securekey/fleet/playbooks/rotate\.yml' \
		-e ignore ansible-playbook --syntax-check -i localhost, securekey.fleet.rotate
}

# ------------------------------------------------------------ sanity

atf_test_case sanity
sanity_head()
{
	atf_set "descr" "the sanity tests of ansible-test that run offline pass (compile, shebang, shellcheck...)"
	atf_set "timeout" "300"
}
sanity_body()
{
	need_progs ansible-test
	copy_collection
	set --
	for _t in $OFFLINE_SANITY; do
		set -- "$@" --test "$_t"
	done
	(cd "$COLL" && ansible-test sanity --local --python "$PYV" --python-interpreter "$PYTHON" "$@") \
		>sanity.log 2>&1 || {
		cat sanity.log >&2
		atf_fail "ansible-test sanity failed"
	}
	cat sanity.log
	for _t in $OFFLINE_SANITY; do
		grep -q "^Running sanity test \"$_t\"" sanity.log || atf_fail "sanity test $_t did not run"
	done
}

atf_init_test_cases()
{
	atf_add_test_case units
	atf_add_test_case docs
	atf_add_test_case galaxy
	atf_add_test_case sanity
}
