# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decoders' fast paths (issue 7) must never read a file differently from the strict parsers.

Each format has a one-pass reader for the files MySQL itself writes (keyring_file in LE_64, a canonical
component document with no escaped character) and a strict parser for everything else. For every input, valid
or damaged, the fast path either gives up (None) or returns exactly what the strict path returns: the same keys
in the same order, and a layout that writes back the same bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import component_file, keyring_file
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, Key

from .strategies import codec, key_lists

OWNERS = ['', 'root@localhost', 'app@%']
# monkeypatch is only used through monkeypatch.context(), undone before each example ends, so sharing the
# function-scoped fixture across hypothesis examples is safe.


def _plain_keys(count, seed=7, types=('AES', 'RSA', 'SECRET', 'DSA')):
    rng = random.Random(seed)
    return [Key('k%05d' % i, OWNERS[i % len(OWNERS)], types[i % len(types)],
                rng.getrandbits(8 * 32).to_bytes(32, 'little')) for i in range(count)]


def _strict_component(data, monkeypatch):
    """parse_document with both fast paths switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(component_file, '_parse_plain', lambda text: None)
        patch.setattr(component_file, '_parse_canonical', lambda text: None)
        return _outcome(lambda: component_file.parse_document(data))


def _outcome(read):
    """(keys, re-rendered bytes) or the error class: what a caller can observe of a parse."""
    try:
        keys, layout = read()
    except KeystoreError as exc:
        return type(exc)
    return list(keys), component_file.render_document(keys, layout)


def _check_component(data, monkeypatch):
    strict = _strict_component(data, monkeypatch)
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return strict
    for fast in (component_file._parse_plain, component_file._parse_canonical):
        result = fast(text)
        if result is not None:
            assert _outcome(lambda: result) == strict, fast.__name__
    # and the public entry point, whichever path it takes
    assert _outcome(lambda: component_file.parse_document(data)) == strict
    return strict


def test_plain_path_reads_a_canonical_document(monkeypatch):
    keys = _plain_keys(200)
    data = codec('component_keyring_file').encode(keys, None)
    assert component_file._parse_plain(data.decode('utf-8')) is not None     # the fast path did take it
    strict = _check_component(data, monkeypatch)
    assert strict[0] == keys and strict[1] == data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(key_lists())
def test_fast_paths_agree_with_strict_parse_on_any_keys(monkeypatch, keys):
    data = codec('component_keyring_file').encode(keys, None)
    strict = _check_component(data, monkeypatch)
    assert strict[0] == keys


def _mutations(data, rng, count):
    text = data.decode('utf-8')
    out = []
    for _mutation in range(count):
        choice = rng.randrange(7)
        at = rng.randrange(len(text))
        if choice == 0:      # one character changed to a JSON-significant one, a non-hex letter, a control
            out.append(text[:at] + rng.choice('",{}[]\\:0aZGg\x01\x1f\x7f \u00e9') + text[at + 1:])
        elif choice == 1:    # one character removed
            out.append(text[:at] + text[at + 1:])
        elif choice == 2:    # a span duplicated (duplicate elements, members)
            end = min(len(text), at + rng.randrange(1, 200))
            out.append(text[:end] + text[at:end] + text[end:])
        elif choice == 3:    # hex case changed, odd-length hex
            out.append(text.replace('"data":"', '"data":"a', 1) if rng.random() < 0.5 else text.lower())
        elif choice == 4:    # an id emptied, an id given a NUL or an escape
            out.append(text.replace('"data_id":"k00001"', rng.choice(['"data_id":""', '"data_id":"k\\u0000"',
                                                                      '"data_id":"k\\"q"']), 1))
        elif choice == 5:    # a separator between elements changed
            out.append(text.replace('},{', rng.choice(['}{', '} {', '},,{', '};{', '},\n{']), 1))
        else:                # truncated
            out.append(text[:at])
    return [m.encode('utf-8') for m in out]


def test_fast_paths_never_accept_what_strict_parse_reads_differently(monkeypatch):
    rng = random.Random(20261123)
    data = codec('component_keyring_file').encode(_plain_keys(6), None)
    accepted_by_fast = 0
    for mutated in _mutations(data, rng, 3000):
        _check_component(mutated, monkeypatch)
        try:
            if component_file._parse_plain(mutated.decode('utf-8')) is not None:
                accepted_by_fast += 1
        except UnicodeDecodeError:
            pass
    # Some mutations keep the document canonical and plain (e.g. a changed hex digit): the fast path was
    # exercised on them, and agreed.
    assert accepted_by_fast > 0


@settings(max_examples=300, deadline=None)
@given(key_lists())
def test_rendering_without_escapes_only_when_nothing_needs_one(keys):
    """A new document is first rendered with no escaping at all, then checked: the check must send every key
    set with a quote, backslash or control character anywhere to the escaping renderer."""
    layout = component_file.new_document_layout()
    escaped = component_file._document(layout, ','.join(map(component_file._render_element, keys)))
    assert component_file.render_document(keys, None) == escaped


@pytest.mark.parametrize('key_id', ['a"b', 'a\\b', 'a\nb', 'a\x00b', 'a\x1fb', 'caf\u00e9', 'a\x7fb', 'a},{b'])
def test_rendering_escapes_exactly_what_the_server_escapes(key_id):
    keys = _plain_keys(3) + [Key(key_id, 'u"ser', 'AES', b'\x01' * 16), Key(key_id, '', 'SECRET', b'')]
    text = component_file.render_document(keys, None).decode('utf-8')
    assert text == component_file._document(component_file.new_document_layout(),
                                            ','.join(map(component_file._render_element, keys))).decode('utf-8')
    assert [tuple(k) for k in component_file.parse_document(text.encode('utf-8'))[0]] == [tuple(k) for k in keys]


# ---- keyring_file -----------------------------------------------------------------------------------------

def _strict_plugin(data, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(keyring_file, '_keys_of_native_file', lambda body: None)
        return _plugin_outcome(data)


def _plugin_outcome(data):
    ks = codec('keyring_file')
    try:
        decoded = ks.decode(data)
    except KeystoreError as exc:
        return type(exc)
    return list(decoded.keys), decoded.layout


@pytest.mark.parametrize('version', ['2.0', '1.0'])
def test_native_plugin_path_matches_strict_parse(monkeypatch, version):
    keys = _plain_keys(300, types=('AES', 'RSA', 'DSA') if version == '1.0' else ('AES', 'RSA', 'SECRET', 'DSA'))
    data = codec('keyring_file').encode(keys, (version, 'LE_64'))
    body = data[keyring_file.HEADER_SIZE:len(data) - 3 - (32 if version == '2.0' else 0)]
    assert keyring_file._keys_of_native_file(body) is not None
    assert _plugin_outcome(data) == _strict_plugin(data, monkeypatch) == (keys, (version, 'LE_64'))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(key_lists(), st.sampled_from(['LE_64', 'LE_32', 'BE_64', 'BE_32']))
def test_native_plugin_path_agrees_on_any_keys(monkeypatch, keys, arch):
    keys = [k for k in keys if k.key_id]
    data = codec('keyring_file').encode(keys, ('2.0', arch))
    assert _plugin_outcome(data) == _strict_plugin(data, monkeypatch)


def test_native_plugin_path_never_accepts_what_strict_parse_reads_differently(monkeypatch):
    rng = random.Random(7)
    data = codec('keyring_file').encode(_plain_keys(5), ('1.0', 'LE_64'))   # no digest to stop mutations
    for _case in range(4000):
        mutated = bytearray(data)
        for _flip in range(rng.randrange(1, 4)):
            at = rng.randrange(keyring_file.HEADER_SIZE, len(data) - 3)
            mutated[at] = rng.choice([0, 1, 8, 0x2a, 0xff, rng.randrange(256)])
        assert _plugin_outcome(bytes(mutated)) == _strict_plugin(bytes(mutated), monkeypatch)
