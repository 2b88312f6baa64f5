# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Harness of the unit tests: the modules run against a fake host.

The fake host answers each command of the securekey tools with a run of the
real tools saved in fixtures/NAME.json (see fixtures/make-fixtures.sh) and
records every call: its argv and the keyword arguments of run_command
(data, binary_data), so a test can say what ran and what went on stdin.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# The commands that change a device, a key or an HSM register.
MUTATING = ('securekey reencipher', 'securekey kms reencipher', 'securekey-cryptsetup enroll',
            'securekey-cryptsetup remove', 'securekey hsm set', 'securekey hsm commit')

GLOBAL_OPTIONS = ('--config', '--hsm-dir')


def fixture(name):
    """The saved run NAME: a dict with command, rc, stdout and stderr."""
    with open(os.path.join(FIXTURES, name + '.json')) as f:
        return json.load(f)


def reply(name):
    """The saved run NAME as run_command returns it: (rc, stdout, stderr)."""
    run = fixture(name)
    return run['rc'], run['stdout'], run['stderr']


def doc(name):
    """The JSON document a saved run printed."""
    return json.loads(fixture(name)['stdout'])


def doc_lines(name):
    """The JSON values a saved run printed one per line."""
    return [json.loads(line) for line in fixture(name)['stdout'].splitlines() if line.strip()]


def command_words(argv):
    """ARGV without the binary's directory and the global options."""
    words = [os.path.basename(argv[0])]
    args = list(argv[1:])
    while args and args[0] in GLOBAL_OPTIONS:
        args = args[2:]
    return words + args


def command_key(argv):
    """'securekey list', 'securekey hsm status', 'securekey-cryptsetup enroll'..."""
    words = command_words(argv)
    n = 3 if len(words) > 2 and words[1] in ('hsm', 'kms') else 2
    return ' '.join(words[:n])


class Call(object):
    def __init__(self, argv, kwargs):
        self.argv = list(argv)
        self.key = command_key(argv)
        self.words = command_words(argv)
        self.data = kwargs.get('data')
        self.binary_data = kwargs.get('binary_data', False)

    def __repr__(self):
        return 'Call(%r, data=%r)' % (self.argv, self.data)


class FakeHost(object):
    """Answers commands from REPLIES: key -> fixture name, or a list of names
    used in turn (the last one again once the list runs out)."""

    def __init__(self, replies):
        self.replies = dict(replies)
        self.calls = []

    def run_command(self, argv, **kwargs):
        call = Call(argv, kwargs)
        self.calls.append(call)
        if call.key not in self.replies:
            raise AssertionError('unexpected command: %s' % ' '.join(argv))
        names = self.replies[call.key]
        if isinstance(names, list):
            name = names.pop(0) if len(names) > 1 else names[0]
        else:
            name = names
        if isinstance(name, tuple):
            return name
        return reply(name)

    def ran(self, key):
        return [c for c in self.calls if c.key == key]

    def mutating(self):
        return [c for c in self.calls if c.key in MUTATING]


class ModuleExit(Exception):
    def __init__(self, result, module, failed):
        super(ModuleExit, self).__init__(result)
        self.result = result
        self.module = module
        self.failed = failed


class Run(object):
    """What a module run left: its result, the module, the host's calls."""

    def __init__(self, exit, host):
        self.result = exit.result
        self.failed = exit.failed
        self.module = exit.module
        self.host = host

    @property
    def calls(self):
        return self.host.calls


def set_module_args(args):
    args = dict(args)
    args.setdefault('_ansible_remote_tmp', '/tmp')
    args.setdefault('_ansible_keep_remote_files', False)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))


def run_module(main, args, replies, check_mode=False):
    """Run a module's MAIN with ARGS on a FakeHost(REPLIES); return a Run."""
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    set_module_args(args)
    host = FakeHost(replies)

    def exit_json(module, **result):
        raise ModuleExit(result, module, False)

    def fail_json(module, **result):
        raise ModuleExit(result, module, True)

    def get_bin_path(module, name, required=False, opt_dirs=None):
        return '/usr/sbin/' + name

    def run_command(module, argv, **kwargs):
        return host.run_command(argv, **kwargs)

    with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json,
                             get_bin_path=get_bin_path, run_command=run_command):
        with pytest.raises(ModuleExit) as exc:
            main()
    return Run(exc.value, host)
