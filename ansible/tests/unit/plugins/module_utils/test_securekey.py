# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.securekey.fleet.plugins.module_utils import securekey as sk
from ansible_collections.securekey.fleet.tests.unit.plugins.harness import (
    FakeHost, doc, doc_lines, fixture)


class FakeModule(object):
    """What Securekey uses of AnsibleModule: params, get_bin_path, run_command."""

    def __init__(self, replies, **params):
        self.params = dict(config=None, hsm_dir=None)
        self.params.update(params)
        self.host = FakeHost(replies)
        self.failed = None

    def get_bin_path(self, name, required=False, opt_dirs=None):
        assert required
        return '/usr/sbin/' + name

    def run_command(self, argv, **kwargs):
        return self.host.run_command(argv, **kwargs)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise RuntimeError(kwargs['msg'])


def tools(replies=None, **params):
    return sk.Securekey(FakeModule(replies or {}, **params))


# ------------------------------------------------------------ parsing

def test_parse_one_document():
    assert sk.parse_json_output(fixture('list_to_stage')['stdout']) == doc('list_to_stage')


def test_parse_json_lines():
    lines = sk.parse_json_output(fixture('reencipher_staged_one_failed')['stdout'])
    assert lines == doc_lines('reencipher_staged_one_failed')
    assert len(lines) == 4 and 'summary' in lines[-1]


@pytest.mark.parametrize('text', ['', '  \n', None])
def test_parse_nothing(text):
    assert sk.parse_json_output(text) is None


def test_parse_text_is_not_json():
    assert sk.parse_json_output(fixture('kms_reencipher_staged')['stdout']) is None
    assert sk.parse_json_output('{"a": 1}\nnot json\n') is None


def test_first_line():
    assert sk.first_line('\n  first  \nsecond\n') == 'first'
    assert sk.first_line('') == '' and sk.first_line(None) == ''


@pytest.mark.parametrize('value, expected', [
    (None, []),
    ('02.0001, 01.0001', ['01.0001', '02.0001']),
    (['02.000A', '01.0001', ''], ['01.0001', '02.000a']),
    ('01.0001,02.0001', ['01.0001', '02.0001']),
])
def test_normalize_apqns(value, expected):
    assert sk.normalize_apqns(value) == expected


# ------------------------------------------------------------ commands

def test_global_options_come_first():
    t = tools(config='/srv/sk/etc/securekey.conf', hsm_dir='pkcs11:token=x')
    assert t.command('securekey', ['list', '--json']) == [
        '/usr/sbin/securekey', '--config', '/srv/sk/etc/securekey.conf',
        '--hsm-dir', 'pkcs11:token=x', 'list', '--json']
    assert t.command('securekey-cryptsetup', ['validate', 'x'])[0] == '/usr/sbin/securekey-cryptsetup'


def test_secret_goes_to_stdin_as_is():
    t = tools({'securekey reencipher': (0, '', '')})
    t.run('securekey', ['reencipher', '--key-file', '-'], secret='pass phrase')
    (call,) = t.module.host.calls
    assert call.data == 'pass phrase' and call.binary_data is True
    assert 'pass phrase' not in call.argv


def test_no_secret_no_stdin():
    t = tools({'securekey list': 'list_none'})
    t.list_volumes()
    (call,) = t.module.host.calls
    assert call.data is None


def test_json_error_without_json_is_the_first_stderr_line():
    t = tools({'securekey reencipher': 'reencipher_token_disabled'})
    with pytest.raises(sk.SecurekeyError) as e:
        t.json('securekey', ['reencipher', '--json', '--auth=token'])
    assert str(e.value) == fixture('reencipher_token_disabled')['stderr'].splitlines()[0]
    assert e.value.rc == 1


def test_json_allowed_status_without_json_returns_none():
    t = tools({'securekey reencipher': 'reencipher_bad_key_file'})
    assert t.json('securekey', ['reencipher', '--json'], ok_rcs=(0, 1))[1] is None


def test_json_failure_raises_with_the_tools_message():
    t = tools({'securekey hsm status': 'hsm_status_unavailable'})
    with pytest.raises(sk.SecurekeyError) as e:
        t.hsm_status()
    assert str(e.value) == fixture('hsm_status_unavailable')['stderr'].splitlines()[0]
    assert e.value.rc == 1


def test_json_failure_without_stderr_names_the_command():
    t = tools({'securekey hsm status': (2, '', '')})
    with pytest.raises(sk.SecurekeyError) as e:
        t.hsm_status()
    assert str(e.value) == 'securekey hsm status --json failed with exit status 2'


# ------------------------------------------------------------ the reads

def test_list_volumes_with_missing_volume():
    t = tools({'securekey list': 'list_missing'})
    volumes = t.list_volumes()
    assert [v['missing'] for v in volumes].count(True) == 1


def test_list_volumes_arguments():
    t = tools({'securekey list': 'list_none'})
    t.list_volumes(['/srv/sk/img1'], ['01.0001', '02.0001'])
    assert t.module.host.calls[0].words[1:] == ['list', '/srv/sk/img1', '--apqns',
                                                '01.0001,02.0001', '--json']


def test_kms_status_unconfigured_is_none():
    assert tools({'securekey kms status': 'kms_status_unconfigured'}).kms_status() is None


def test_kms_status_configured():
    status = tools({'securekey kms status': 'kms_status_to_stage'}).kms_status()
    assert status == doc('kms_status_to_stage')


def test_kms_status_unreachable_is_still_the_document():
    status = tools({'securekey kms status': 'kms_status_unreachable'}).kms_status()
    assert status['configured'] is True


def test_validate_enrolled_and_no_token():
    t = tools({'securekey-cryptsetup validate': ['validate_enrolled', 'validate_no_token']})
    assert t.validate('/srv/sk/img1')['token'] == 0
    no_token = t.validate('/srv/sk/img3')
    assert no_token['token'] is None and no_token['next_step'] == 'enroll'


def test_validate_unreadable_raises_its_error():
    t = tools({'securekey-cryptsetup validate': 'validate_unreadable'})
    with pytest.raises(sk.SecurekeyError) as e:
        t.validate('nosuch')
    assert str(e.value) == 'cannot open nosuch: No such file or directory'


def test_validate_without_json_raises():
    t = tools({'securekey-cryptsetup validate': (1, '', 'securekey-cryptsetup: bad\n')})
    with pytest.raises(sk.SecurekeyError) as e:
        t.validate('/srv/sk/img1')
    assert str(e.value) == 'securekey-cryptsetup: bad'


# ------------------------------------------------------------ auth

def auth(**params):
    module = FakeModule({}, **dict(dict(auth='passphrase', key_file=None, passphrase=None),
                                   **params))
    return sk.auth_arguments(module)


def test_auth_passphrase_on_stdin():
    assert auth(passphrase='s3cret') == (['--key-file', '-'], 's3cret')


def test_auth_empty_passphrase_is_a_passphrase():
    assert auth(passphrase='') == (['--key-file', '-'], '')


def test_auth_key_file():
    assert auth(key_file='/root/luks.key') == (['--key-file', '/root/luks.key'], None)


def test_auth_token():
    assert auth(auth='token') == (['--auth=token'], None)
    with pytest.raises(RuntimeError):
        auth(auth='token', key_file='/root/luks.key')


def test_auth_nothing():
    assert auth() == (None, None)


def test_passphrase_option_is_no_log():
    spec = sk.auth_argument_spec()
    assert spec['passphrase']['no_log'] is True
    assert spec['key_file']['no_log'] is False
