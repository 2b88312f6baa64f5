# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.securekey.fleet.plugins.modules import securekey_volume
from ansible_collections.securekey.fleet.tests.unit.plugins.harness import doc, run_module

DEVICE = '/srv/sk/img3'
APQNS = ['01.0001', '02.0001']
SECRET = 'correct horse battery'

VALIDATE = 'securekey-cryptsetup validate'
ENROLL = 'securekey-cryptsetup enroll'
REMOVE = 'securekey-cryptsetup remove'


def volume(args, validate, check_mode=False, **replies):
    params = dict(device=DEVICE)
    params.update(args)
    replies[VALIDATE] = validate
    return run_module(securekey_volume.main, params, replies, check_mode=check_mode)


def enroll(args, check_mode=False, **replies):
    """state=present of a device without a token, enrolled by the run."""
    params = dict(apqns=APQNS)
    params.update(args)
    replies.setdefault(ENROLL, (0, '', ''))
    return volume(params, ['validate_no_token', 'validate_enrolled'], check_mode, **replies)


# ------------------------------------------------------------ idempotence

def test_enrolled_device_is_left_alone():
    run = volume(dict(apqns=APQNS, passphrase=SECRET), 'validate_enrolled')
    assert not run.failed
    assert run.result['changed'] is False
    assert run.result['volume'] == doc('validate_enrolled')
    assert run.host.mutating() == []


def test_apqns_compare_as_a_set():
    run = volume(dict(apqns=['02.0001', '01.0001'], key_file='/root/luks.key'),
                 'validate_enrolled')
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []


def test_kms_bound_device_with_kms_is_left_alone():
    run = volume(dict(apqns=APQNS, kms=True, key_file='/root/luks.key'), 'validate_kms')
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []


def test_absent_without_token_is_left_alone():
    run = volume(dict(state='absent', key_file='/root/luks.key'), 'validate_no_token')
    assert not run.failed and run.result['changed'] is False
    assert run.result['volume']['next_step'] == 'enroll'
    assert run.host.mutating() == []


# ------------------------------------------------------------ enrolled otherwise

def test_other_apqns_fail_without_enroll():
    run = volume(dict(apqns=['01.0001', '03.0001'], passphrase=SECRET), 'validate_enrolled')
    assert run.failed
    assert run.result['msg'] == ('%s is enrolled to APQNs 01.0001,02.0001, not 01.0001,03.0001: '
                                 'remove it first (state=absent)' % DEVICE)
    assert run.host.mutating() == []


def test_no_kms_binding_fails_without_enroll():
    run = volume(dict(apqns=APQNS, kms=True, passphrase=SECRET), 'validate_enrolled')
    assert run.failed
    assert 'enrolled without a KMS binding' in run.result['msg']
    assert run.host.mutating() == []


def test_other_apqns_fail_in_check_mode_too():
    run = volume(dict(apqns=['03.0001']), 'validate_enrolled', check_mode=True)
    assert run.failed and run.host.mutating() == []


# ------------------------------------------------------------ check mode

def test_check_mode_enroll_runs_nothing():
    run = volume(dict(apqns=APQNS, passphrase=SECRET), 'validate_no_token', check_mode=True)
    assert not run.failed
    assert run.result['changed'] is True
    assert run.result['volume'] == doc('validate_no_token')
    assert run.host.mutating() == []
    assert [c.key for c in run.calls] == [VALIDATE]


def test_check_mode_remove_runs_nothing():
    run = volume(dict(state='absent', key_file='/root/luks.key'), 'validate_enrolled',
                 check_mode=True)
    assert not run.failed and run.result['changed'] is True
    assert run.host.mutating() == []


# ------------------------------------------------------------ enroll

def test_enroll_passphrase_on_stdin_only():
    run = enroll(dict(passphrase=SECRET))
    assert not run.failed
    assert run.result['changed'] is True
    assert run.result['volume'] == doc('validate_enrolled')
    (call,) = run.host.ran(ENROLL)
    assert call.words[1:] == ['enroll', DEVICE, '--apqns', '01.0001,02.0001', '--key-file', '-']
    assert call.data == SECRET
    assert call.binary_data is True
    for c in run.calls:
        assert not any(SECRET in word for word in c.argv)


def test_passphrase_is_no_log():
    run = enroll(dict(passphrase=SECRET))
    assert SECRET in run.module.no_log_values
    assert SECRET not in json.dumps(run.result)


def test_enroll_with_key_file_and_kms():
    run = enroll(dict(key_file='/root/luks.key', kms=True, apqns=['02.0001', '01.0001']))
    assert not run.failed
    (call,) = run.host.ran(ENROLL)
    assert call.words[1:] == ['enroll', DEVICE, '--apqns', '01.0001,02.0001', '--kms',
                              '--key-file', '/root/luks.key']
    assert call.data is None


def test_enroll_auth_token():
    run = enroll(dict(auth='token'))
    assert not run.failed
    (call,) = run.host.ran(ENROLL)
    assert call.words[-1] == '--auth=token'
    assert '--key-file' not in call.words
    assert call.data is None


def test_auth_token_takes_no_passphrase():
    run = enroll(dict(auth='token', passphrase=SECRET))
    assert run.failed
    assert run.result['msg'] == 'auth=token takes no key_file or passphrase'
    assert run.host.mutating() == []


def test_enroll_without_passphrase_fails_before_running():
    run = enroll({})
    assert run.failed
    assert run.result['msg'] == '%s: give key_file, passphrase or auth=token' % DEVICE
    assert run.host.mutating() == []


def test_enroll_error_is_the_tools_first_line():
    run = enroll(dict(passphrase='wrong'), **{ENROLL: 'enroll_wrong_passphrase'})
    assert run.failed
    assert run.result['msg'] == 'no keyslot of img3 opens with this passphrase'
    assert run.result['rc'] == 1


def test_unreadable_device_fails_with_its_error():
    run = volume(dict(apqns=APQNS, passphrase=SECRET), 'validate_unreadable')
    assert run.failed
    assert run.result['msg'] == doc('validate_unreadable')['error']
    assert run.host.mutating() == []


def test_apqns_required_when_present():
    run = volume(dict(passphrase=SECRET), 'validate_no_token')
    assert run.failed
    assert 'apqns' in run.result['msg']
    assert run.calls == []


def test_key_file_and_passphrase_exclusive():
    run = volume(dict(apqns=APQNS, passphrase=SECRET, key_file='/root/luks.key'),
                 'validate_no_token')
    assert run.failed and 'mutually exclusive' in run.result['msg']
    assert run.calls == []


# ------------------------------------------------------------ remove

def test_remove_with_options():
    run = volume(dict(state='absent', passphrase=SECRET, kms_destroy=True, purge_backups=True),
                 ['validate_kms', 'validate_no_token'], **{REMOVE: (0, '', '')})
    assert not run.failed
    assert run.result['changed'] is True
    assert run.result['volume']['token'] is None
    (call,) = run.host.ran(REMOVE)
    assert call.words[1:] == ['remove', DEVICE, '--kms-destroy', '--purge-backups',
                              '--key-file', '-']
    assert call.data == SECRET
    assert SECRET not in ' '.join(call.argv)


def test_remove_auth_token():
    run = volume(dict(state='absent', auth='token'), ['validate_enrolled', 'validate_no_token'],
                 **{REMOVE: (0, '', '')})
    assert not run.failed
    (call,) = run.host.ran(REMOVE)
    assert call.words[1:] == ['remove', DEVICE, '--auth=token']


def test_remove_error_is_the_tools_first_line():
    err = (1, '', 'no keyslot of %s opens with this passphrase\nsecond line\n' % DEVICE)
    run = volume(dict(state='absent', key_file='/root/luks.key'), 'validate_enrolled',
                 **{REMOVE: err})
    assert run.failed
    assert run.result['msg'] == 'no keyslot of %s opens with this passphrase' % DEVICE
