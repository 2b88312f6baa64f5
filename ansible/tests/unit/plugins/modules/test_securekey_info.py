# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.securekey.fleet.plugins.module_utils import securekey
from ansible_collections.securekey.fleet.plugins.modules import securekey_info
from ansible_collections.securekey.fleet.tests.unit.plugins.harness import doc, run_module


def info(args=None, check_mode=False, **replies):
    base = {'securekey hsm status': 'hsm_status_committed',
            'securekey list': 'list_staged',
            'securekey kms status': 'kms_status_unconfigured'}
    base.update(replies)
    return run_module(securekey_info.main, args or {}, base, check_mode=check_mode)


def test_ready_host_changes_nothing():
    run = info()
    assert not run.failed
    assert run.result['changed'] is False
    assert run.host.mutating() == []
    summary = run.result['summary']
    assert summary['ready_for_set'] is True
    assert summary['blocking'] == []
    assert summary['volumes'] == 3
    assert summary['next_steps'] == {'hsm set': 3}
    assert run.result['volumes'] == doc('list_staged')
    assert run.result['identity'] is None
    assert 'kms_servers' not in run.result


def test_registers_and_new_state():
    hsm = doc('hsm_status_committed')
    reg = hsm['apqns'][0]['registers']
    run = info()
    assert run.result['hsm'] == hsm
    assert run.result['registers'] == {'OLD': None, 'CURRENT': reg['CURRENT']['mkvp'],
                                       'NEW': reg['NEW']['mkvp']}
    assert run.result['new_state'] == 'committed'
    run = info(**{'securekey hsm status': 'hsm_status_set'})
    assert run.result['new_state'] == 'empty'
    assert run.result['registers']['NEW'] is None
    assert run.result['registers']['OLD'] == reg['CURRENT']['mkvp']


def test_registers_apqns_disagree():
    """APQNs whose NEW registers differ: no agreed MKVP, state mixed."""
    hsm = doc('hsm_status_committed')
    hsm['apqns'][1]['registers']['NEW'] = doc('hsm_status_current')['apqns'][1]['registers']['NEW']
    assert securekey.agreed_registers(hsm)['NEW'] is None
    assert securekey.new_register_state(hsm) == 'mixed'
    # Only the APQNs asked for count.
    first = hsm['apqns'][0]['apqn']
    assert securekey.new_register_state(hsm, [first]) == 'committed'
    assert securekey.agreed_registers(hsm, [first])['NEW'] == \
        hsm['apqns'][0]['registers']['NEW']['mkvp']


def test_volume_not_staged_blocks():
    run = info(**{'securekey list': 'list_staged_one_not'})
    assert not run.failed and run.result['changed'] is False
    summary = run.result['summary']
    assert summary['ready_for_set'] is False
    assert [b['path'] for b in summary['blocking']] == ['/srv/sk/img4']
    assert summary['blocking'][0]['next_step'] == 'reencipher --staged'
    assert summary['next_steps'] == {'hsm set': 2, 'reencipher --staged': 1}


def test_missing_volume_blocks_without_failing():
    """securekey list exits 1 for a volume found nowhere; its JSON is the answer."""
    run = info(**{'securekey list': 'list_missing'})
    assert not run.failed
    summary = run.result['summary']
    assert summary['ready_for_set'] is False
    assert summary['blocking'] == [dict(path='/srv/sk/img2', uuid=summary['blocking'][0]['uuid'],
                                        next_step='missing')]


def test_completed_volumes_are_ready():
    run = info(**{'securekey list': 'list_completed'})
    assert run.result['summary']['ready_for_set'] is True
    run = info(**{'securekey list': 'list_to_complete'})
    assert run.result['summary']['ready_for_set'] is True


def test_identity_key_to_stage_blocks():
    run = info(**{'securekey kms status': 'kms_status_to_stage'})
    identity = doc('kms_status_to_stage')['identity_key']
    assert run.result['identity'] == identity
    assert run.result['kms_servers'] == doc('kms_status_to_stage')['servers']
    assert run.result['summary']['ready_for_set'] is False
    assert run.result['summary']['blocking'] == [
        dict(identity_key=identity['file'], next_step='reencipher --staged')]


def test_identity_key_staged_is_ready():
    run = info(**{'securekey kms status': 'kms_status_staged'})
    assert run.result['identity']['next_step'] == 'hsm set'
    assert run.result['summary']['ready_for_set'] is True


def test_kms_unreachable_still_reports_identity():
    """kms status exits 1 when a server does not answer; the key is still reported."""
    run = info(**{'securekey kms status': 'kms_status_unreachable'})
    assert not run.failed
    assert run.result['kms_servers'][0]['reachable'] is False
    assert run.result['identity']['next_step'] == 'hsm set'


def test_kms_false_does_not_ask_the_kms():
    run = info({'kms': False}, **{'securekey kms status': 'kms_status_to_stage'})
    assert run.host.ran('securekey kms status') == []
    assert run.result['identity'] is None
    assert run.result['summary']['ready_for_set'] is True


def test_hsm_failure_is_the_tool_error():
    run = info(**{'securekey hsm status': 'hsm_status_unavailable'})
    assert run.failed
    assert run.result['msg'] == ("soft HSM directory /nonexistent does not exist; create it "
                                 "with 'securekey hsm init --apqns AA.DDDD'")
    assert run.result['rc'] == 1


def test_options_reach_the_tools():
    run = info({'devices': ['/srv/sk/img1', '/srv/sk/img2'], 'apqns': ['02.0001', '01.0001'],
                'config': '/srv/sk/etc/securekey.conf', 'hsm_dir': '/srv/sk/hsm'})
    for call in run.calls:
        assert call.argv[1:5] == ['--config', '/srv/sk/etc/securekey.conf',
                                  '--hsm-dir', '/srv/sk/hsm']
    (listing,) = run.host.ran('securekey list')
    assert listing.words[1:] == ['list', '/srv/sk/img1', '/srv/sk/img2',
                                 '--apqns', '01.0001,02.0001', '--json']


def test_check_mode_is_the_same_report():
    run = info(check_mode=True, **{'securekey list': 'list_staged_one_not'})
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []
    assert run.result['summary']['ready_for_set'] is False


def test_identity_of_unknown_state_blocks():
    """No next step for the identity key (its HSM did not open) is not 'ready'."""
    run = info(**{'securekey kms status': 'kms_status_hsm_unavailable'})
    assert not run.failed
    assert run.result['summary']['ready_for_set'] is False
    assert run.result['summary']['blocking'] == [dict(
        identity_key='/srv/sk/etc/kms/identity.skey', next_step=None,
        error="soft HSM directory /nonexistent does not exist; create it with "
              "'securekey hsm init --apqns AA.DDDD'")]


def test_initramfs_parts_reported():
    run = info()
    assert set(run.result['initramfs']) == {'initramfs-tools', 'dracut'}
    assert securekey.initramfs_parts(lambda p: p.endswith('90securekey')) == \
        {'initramfs-tools': False, 'dracut': True}
