# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.securekey.fleet.plugins.modules import securekey_reencipher
from ansible_collections.securekey.fleet.tests.unit.plugins.harness import doc, doc_lines, run_module

SECRET = 'correct horse battery'
LIST = 'securekey list'
KMS_STATUS = 'securekey kms status'
BATCH = 'securekey reencipher'
KMS_REENCIPHER = 'securekey kms reencipher'


def reencipher(args, check_mode=False, **replies):
    base = {KMS_STATUS: 'kms_status_unconfigured'}
    base.update(replies)
    return run_module(securekey_reencipher.main, args, base, check_mode=check_mode)


def uuid_of(listing, path):
    return [v['uuid'] for v in doc(listing) if v['path'] == path][0]


# ------------------------------------------------------------ idempotence

def test_nothing_to_stage_runs_nothing():
    run = reencipher(dict(step='staged', passphrase=SECRET), **{LIST: 'list_staged'})
    assert not run.failed
    assert run.result['changed'] is False
    assert run.result['devices'] == [] and run.result['failed_devices'] == []
    assert run.result['summary'] is None
    assert run.host.mutating() == []


def test_nothing_to_complete_runs_nothing():
    run = reencipher(dict(step='complete', key_file='/root/luks.key'),
                     **{LIST: 'list_completed'})
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []


def test_complete_before_set_runs_nothing():
    """Volumes staged but waiting for hsm set have no 'complete' to do."""
    run = reencipher(dict(step='complete', passphrase=SECRET), **{LIST: 'list_staged'})
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []


def test_missing_volume_is_not_a_step():
    run = reencipher(dict(step='auto', passphrase=SECRET), **{LIST: 'list_missing'})
    assert not run.failed and run.result['changed'] is False
    assert run.host.mutating() == []


# ------------------------------------------------------------ check mode

def test_check_mode_reports_and_runs_nothing():
    run = reencipher(dict(step='staged', passphrase=SECRET), check_mode=True,
                     **{LIST: 'list_to_stage'})
    assert not run.failed
    assert run.result['changed'] is True
    assert sorted(d['path'] for d in run.result['devices']) == [
        '/srv/sk/img1', '/srv/sk/img2', '/srv/sk/img4']
    assert set(d['result'] for d in run.result['devices']) == {'would'}
    assert run.host.mutating() == []


def test_check_mode_identity_runs_nothing():
    run = reencipher(dict(step='staged', passphrase=SECRET), check_mode=True,
                     **{LIST: 'list_staged', KMS_STATUS: 'kms_status_to_stage'})
    assert not run.failed and run.result['changed'] is True
    assert run.result['identity'] == dict(next_step='reencipher --staged', changed=True)
    assert run.host.mutating() == []


# ------------------------------------------------------------ the batch

def test_stage_passphrase_on_stdin_only():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_staged_one_not', BATCH: 'reencipher_staged_map'})
    assert not run.failed
    assert run.result['changed'] is True
    assert run.result['devices'] == [dict(
        path='/srv/sk/img4', uuid=uuid_of('list_staged_one_not', '/srv/sk/img4'),
        next_step='reencipher --staged', result='ok', detail='staged to the NEW master key')]
    assert run.result['summary'] == doc_lines('reencipher_staged_map')[-1]['summary']
    (call,) = run.host.ran(BATCH)
    assert call.words[1:] == ['reencipher', '--staged', '--json', '--key-file', '-']
    assert call.data == SECRET and call.binary_data is True
    for c in run.calls:
        assert not any(SECRET in word for word in c.argv)


def test_passphrase_is_no_log():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_staged_one_not', BATCH: 'reencipher_staged_map'})
    assert SECRET in run.module.no_log_values
    assert SECRET not in json.dumps(run.result)


def test_options_reach_the_batch():
    run = reencipher(dict(step='in_place', devices=['/srv/sk/img1'], apqns=['02.0001', '01.0001'],
                          jobs=3, key_file='/root/luks.key'),
                     **{LIST: [(0, json.dumps([dict(doc('list_completed')[0],
                                                    next_step='reencipher --in-place')]), '')],
                        BATCH: (0, '', '')})
    (listing,) = run.host.ran(LIST)
    assert listing.words[1:] == ['list', '/srv/sk/img1', '--apqns', '01.0001,02.0001', '--json']
    (call,) = run.host.ran(BATCH)
    assert call.words[1:] == ['reencipher', '/srv/sk/img1', '--apqns', '01.0001,02.0001',
                              '--in-place', '--jobs', '3', '--json', '--key-file',
                              '/root/luks.key']
    assert call.data is None


def test_auto_takes_each_volumes_own_step():
    run = reencipher(dict(passphrase=SECRET),
                     **{LIST: 'list_to_complete', BATCH: 'reencipher_complete_one_failed'})
    (call,) = run.host.ran(BATCH)
    assert call.words[1:] == ['reencipher', '--json', '--key-file', '-']


def test_failing_device_is_named():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_to_stage', BATCH: 'reencipher_staged_one_failed'})
    assert run.failed
    assert run.result['failed_devices'] == ['/srv/sk/img4']
    assert run.result['msg'] == ('1 of 3 devices failed: /srv/sk/img4: no keyslot of /srv/sk/img4 '
                                 'opens with this passphrase')
    results = dict((d['path'], d['result']) for d in run.result['devices'])
    assert results == {'/srv/sk/img1': 'ok', '/srv/sk/img2': 'ok', '/srv/sk/img4': 'failed'}
    assert run.result['changed'] is True


def test_failing_device_on_complete():
    run = reencipher(dict(step='complete', passphrase=SECRET),
                     **{LIST: 'list_to_complete', BATCH: 'reencipher_complete_one_failed'})
    assert run.failed
    assert run.result['failed_devices'] == ['/srv/sk/img4']
    assert '/srv/sk/img4: no keyslot of /srv/sk/img4 opens' in run.result['msg']


def test_tool_error_is_its_first_line():
    run = reencipher(dict(step='staged', key_file='/nonexistent'),
                     **{LIST: 'list_to_stage', BATCH: 'reencipher_bad_key_file'})
    assert run.failed
    assert run.result['msg'] == 'cannot open key file /nonexistent: No such file or directory'
    assert run.result['rc'] == 1


def test_no_passphrase_fails_before_running():
    run = reencipher(dict(step='staged'), **{LIST: 'list_to_stage'})
    assert run.failed
    assert run.result['msg'] == 'give key_file, passphrase, key_file_map or auth=token'
    assert run.host.mutating() == []


# ------------------------------------------------------------ auth=token, key_file_map

def test_auth_token():
    run = reencipher(dict(step='staged', auth='token'),
                     **{LIST: 'list_staged_one_not', BATCH: 'reencipher_staged_map'})
    assert not run.failed
    (call,) = run.host.ran(BATCH)
    assert call.words[1:] == ['reencipher', '--staged', '--json', '--auth=token']
    assert call.data is None


def test_auth_token_refused_is_the_tools_error():
    run = reencipher(dict(step='staged', auth='token'),
                     **{LIST: 'list_to_stage', BATCH: 'reencipher_token_disabled'})
    assert run.failed
    assert run.result['msg'].startswith("--auth=token is not enabled: set 'allow_token_auth = yes'")
    assert '\n' not in run.result['msg']


def test_key_file_map():
    run = reencipher(dict(step='staged', key_file_map='/root/keys.map'),
                     **{LIST: 'list_staged_one_not', BATCH: 'reencipher_staged_map'})
    assert not run.failed and run.result['changed'] is True
    (call,) = run.host.ran(BATCH)
    assert call.words[1:] == ['reencipher', '--staged', '--json', '--key-file-map',
                              '/root/keys.map']
    assert call.data is None


def test_key_file_map_without_entry_fails():
    """Devices the map has no passphrase for are 'skipped' by the tool, and
    still need the step: the module fails and names them."""
    run = reencipher(dict(step='staged', key_file_map='/root/keys.map'),
                     **{LIST: 'list_to_stage_kms', BATCH: 'reencipher_staged_map_partial'})
    assert run.failed
    assert sorted(run.result['failed_devices']) == ['/srv/sk/img1', '/srv/sk/img2', '/srv/sk/img5']
    assert '/srv/sk/img5: no passphrase' in run.result['msg']
    results = dict((d['path'], d['result']) for d in run.result['devices'])
    assert results['/srv/sk/img4'] == 'ok'


def test_key_file_map_excludes_passphrase():
    run = reencipher(dict(step='staged', key_file_map='/root/keys.map', passphrase=SECRET),
                     **{LIST: 'list_to_stage'})
    assert run.failed and 'mutually exclusive' in run.result['msg']
    assert run.calls == []


# ------------------------------------------------------------ the identity key

def test_identity_key_is_staged():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_staged',
                        KMS_STATUS: ['kms_status_to_stage', 'kms_status_staged'],
                        KMS_REENCIPHER: 'kms_reencipher_staged'})
    assert not run.failed
    assert run.result['changed'] is True
    assert run.result['identity'] == dict(next_step='reencipher --staged', changed=True,
                                          next_step_after='hsm set')
    (call,) = run.host.ran(KMS_REENCIPHER)
    assert call.words[1:] == ['kms', 'reencipher', '--staged']
    assert call.data is None
    assert run.host.ran(BATCH) == []


def test_identity_and_volumes_together():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_to_stage_kms', BATCH: 'reencipher_staged_one_failed',
                        KMS_STATUS: ['kms_status_to_stage', 'kms_status_staged'],
                        KMS_REENCIPHER: 'kms_reencipher_staged'})
    assert len(run.host.ran(BATCH)) == 1 and len(run.host.ran(KMS_REENCIPHER)) == 1
    assert run.result['identity']['next_step_after'] == 'hsm set'


def test_identity_already_staged_is_left_alone():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_staged', KMS_STATUS: 'kms_status_staged'})
    assert not run.failed and run.result['changed'] is False
    assert run.result['identity'] == dict(next_step='hsm set', changed=False)
    assert run.host.mutating() == []


def test_identity_false_does_not_ask_the_kms():
    run = reencipher(dict(step='staged', passphrase=SECRET, identity=False),
                     **{LIST: 'list_staged', KMS_STATUS: 'kms_status_to_stage'})
    assert not run.failed and run.result['changed'] is False
    assert run.host.ran(KMS_STATUS) == []
    assert run.result['identity'] is None


def test_identity_true_without_kms_fails():
    run = reencipher(dict(step='staged', passphrase=SECRET, identity=True),
                     **{LIST: 'list_staged'})
    assert run.failed
    assert run.result['msg'] == 'identity=true, but no KMS is configured'
    assert run.host.mutating() == []


def test_identity_error_is_the_tools_first_line():
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_staged', KMS_STATUS: 'kms_status_to_stage',
                        KMS_REENCIPHER: 'kms_reencipher_hsm_unavailable'})
    assert run.failed
    assert run.result['msg'] == ("identity key: soft HSM directory /nonexistent does not exist; "
                                 "create it with 'securekey hsm init --apqns AA.DDDD'")
    assert run.result['changed'] is False


def test_identity_of_unknown_state_fails_before_anything_runs():
    """kms status could not tell the identity key's state (the HSM did not
    open): the step must fail, not take the key for one with nothing to do."""
    run = reencipher(dict(step='staged', passphrase=SECRET),
                     **{LIST: 'list_to_stage', KMS_STATUS: 'kms_status_hsm_unavailable'})
    assert run.failed
    assert run.result['msg'] == (
        "identity key /srv/sk/etc/kms/identity.skey: soft HSM directory /nonexistent does "
        "not exist; create it with 'securekey hsm init --apqns AA.DDDD'")
    assert run.host.mutating() == []


# ------------------------------------------------------------ hsm_set, report_state

HSM_STATUS = 'securekey hsm status'
HSM_SET = 'securekey hsm set'


def completed_lines():
    """A batch that completed every volume of list_to_complete."""
    lines = [json.dumps(dict(path=v['path'], uuid=v['uuid'], result='ok',
                             detail='completed: under the CURRENT master key'))
             for v in doc('list_to_complete')]
    return '\n'.join(lines + [json.dumps(dict(summary=dict(devices=len(lines), ok=len(lines))))])


def test_hsm_set_when_new_committed_then_completes():
    """A host's own HSM: 'hsm set' first, then the volumes take their step."""
    run = reencipher(dict(step='auto', passphrase=SECRET, apqns=['01.0001', '02.0001'],
                          hsm_set=True),
                     **{HSM_STATUS: 'hsm_status_committed', HSM_SET: (0, 'set\n', ''),
                        LIST: 'list_to_complete', BATCH: (0, completed_lines(), '')})
    assert not run.failed, run.result
    assert run.result['hsm_set'] is True and run.result['changed'] is True
    (call,) = run.host.ran(HSM_SET)
    assert call.words[1:] == ['hsm', 'set', '--apqns', '01.0001,02.0001']
    assert run.calls.index(call) < run.calls.index(run.host.ran(BATCH)[0])


def test_hsm_set_not_when_new_empty():
    run = reencipher(dict(step='auto', passphrase=SECRET, apqns=['01.0001', '02.0001'],
                          hsm_set=True),
                     **{HSM_STATUS: 'hsm_status_set', LIST: 'list_completed'})
    assert not run.failed
    assert run.result['hsm_set'] is False and run.result['changed'] is False
    assert run.host.mutating() == []


def test_hsm_set_refused_fails_before_any_volume():
    err = 'hsm set refused: /srv/sk/img4 is not staged\n'
    run = reencipher(dict(step='auto', passphrase=SECRET, apqns=['01.0001', '02.0001'],
                          hsm_set=True),
                     **{HSM_STATUS: 'hsm_status_committed', HSM_SET: (1, '', err),
                        LIST: 'list_to_complete'})
    assert run.failed
    assert run.result['msg'] == err.strip()
    assert run.host.ran(BATCH) == []


def test_hsm_set_check_mode_runs_nothing_and_plans_the_completes():
    run = reencipher(dict(step='auto', passphrase=SECRET, apqns=['01.0001', '02.0001'],
                          hsm_set=True), check_mode=True,
                     **{HSM_STATUS: 'hsm_status_committed', LIST: 'list_staged'})
    assert not run.failed
    assert run.result['hsm_set'] is True and run.result['changed'] is True
    assert run.result['devices'] and set(d['next_step'] for d in run.result['devices']) == {
        'reencipher --complete'}
    assert run.host.mutating() == []


def test_hsm_set_needs_apqns():
    run = reencipher(dict(step='auto', passphrase=SECRET, hsm_set=True),
                     **{LIST: 'list_completed'})
    assert run.failed
    assert run.host.calls == []


def test_report_state_after_the_step():
    run = reencipher(dict(step='staged', passphrase=SECRET, report_state=True),
                     **{HSM_STATUS: 'hsm_status_committed',
                        LIST: ['list_staged_one_not', 'list_staged'],
                        BATCH: 'reencipher_staged_map'})
    assert not run.failed
    state = run.result['state']
    assert state['volumes'] == doc('list_staged')
    assert state['summary']['ready_for_set'] is True
    assert state['new_state'] == 'committed'
    assert set(state['initramfs']) == {'initramfs-tools', 'dracut'}


def test_report_state_asks_the_kms_once():
    """The identity key took no step: the state reuses the first 'kms status'
    (each one connects to every KMS server)."""
    run = reencipher(dict(step='staged', passphrase=SECRET, report_state=True),
                     **{HSM_STATUS: 'hsm_status_committed', LIST: 'list_staged',
                        KMS_STATUS: 'kms_status_staged'})
    assert not run.failed and run.result['changed'] is False
    assert len(run.host.ran(KMS_STATUS)) == 1
    assert run.result['state']['identity']['next_step'] == 'hsm set'


def test_report_state_asks_the_kms_again_after_its_step():
    run = reencipher(dict(step='staged', passphrase=SECRET, report_state=True),
                     **{HSM_STATUS: 'hsm_status_committed', LIST: 'list_staged',
                        KMS_STATUS: ['kms_status_to_stage', 'kms_status_staged'],
                        KMS_REENCIPHER: 'kms_reencipher_staged'})
    assert not run.failed
    assert len(run.host.ran(KMS_STATUS)) == 2
    assert run.result['state']['identity']['next_step'] == 'hsm set'
    assert run.result['identity']['next_step_after'] == 'hsm set'
