# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""component_keyring_file's JSON data file (MySQL 8.0.24+; the format: docs/keystore-formats.md).

    {"version":"1.0","elements":[{"user":"...","data_id":"...","data_type":"AES","data":"<UPPER HEX>",
                                  "extension":[]}, ...]}

Written compactly, as rapidjson's Writer does. As in MySQL, an existing document is kept and re-serialised:
members this library does not know, and existing elements, are written back as they were read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import json
import re
from itertools import chain
from operator import itemgetter

from .base import BACKUP_ROLL_FORWARD, Decoded, Keystore
from .model import (
    KEY_TYPES,
    MAX_KEY_LENGTH,
    BadHexError,
    BadJsonError,
    DuplicateKeyError,
    InvalidKeyError,
    Key,
    KeySet,
    KeyTooLargeError,
    UnknownKeyTypeError,
    describe_identity,
)

FORMAT_VERSION = '1.0'
# MySQL's own documents nest 3 deep (document, elements, element/extension); foreign members may add some.
MAX_NESTING = 32
ELEMENT_MEMBERS = ('user', 'data_id', 'data_type', 'data', 'extension')
_KEY_ID, _USER_ID, _KEY_TYPE, _KEY_DATA = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)
_FIRST, _SECOND = _KEY_ID, _USER_ID
_CONTROL_BYTES = bytes(range(0x20))
# An element as MySQL writes it, for strings that need no escaping.
_PLAIN_ELEMENT_TEXT = '{"user":"%s","data_id":"%s","data_type":"%s","data":"%s","extension":[]}'


class JsonObject(list):
    """A JSON object as its (name, value) pairs in file order (a dict would lose order on duplicates and an
    empty object would be indistinguishable from an empty array)."""


class ComponentLayout:
    """The parsed document, so a rewrite keeps what MySQL keeps: foreign members and existing elements.

    `elements` is {(data_id, user): (Key, the element as read)}: a JsonObject, or for _parse_plain the element's
    own text. _parse_plain gives `plain_elements` instead, ((identity, Key) pairs, each element's four strings),
    from which `elements` is built on first use: most documents read (every source, every read-back check)
    are never rewritten, and the table costs as much as a quarter of the read."""

    def __init__(self, members, elements=None, plain_elements=None):
        self.members = members        # [(name, value)] of the top-level object, in file order
        self._elements = elements
        self._plain_elements = plain_elements

    @property
    def elements(self):
        if self._elements is None:
            items, strings = self._plain_elements
            texts = map(_PLAIN_ELEMENT_TEXT.__mod__, strings)      # exactly each element's text in the file
            self._elements = dict(zip(map(_FIRST, items), zip(map(_SECOND, items), texts)))
            self._plain_elements = None
        return self._elements


def new_document_layout():
    return ComponentLayout(JsonObject([('version', FORMAT_VERSION), ('elements', [])]), {})


def _reject_duplicate_members(pairs):
    # dict() is the fast test (no duplicate: as many names as pairs); the message is built only on failure.
    if len(dict(pairs)) != len(pairs):
        names = [name for name, _value in pairs]
        raise ValueError('an object has the member %r twice' % sorted(n for n in names if names.count(n) > 1)[0])
    return JsonObject(pairs)


def _reject_constant(name):
    raise ValueError('%s is not valid JSON' % name)


def parse_document(data):
    """Bytes -> ComponentLayout and KeySet, strictly, as component_keyring_file's Json_reader would."""
    if not data:
        # MySQL creates an empty data file and treats it as a keystore with no keys.
        return KeySet(), new_document_layout()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise BadJsonError('the file is not UTF-8 text (byte %d)' % exc.start, offset=exc.start)
    parsed = _parse_plain(text)
    if parsed is None:
        parsed = _parse_canonical(text)
    if parsed is not None:
        return parsed
    try:
        pairs = json.loads(text, object_pairs_hook=_reject_duplicate_members, parse_constant=_reject_constant)
    except ValueError as exc:
        # json's messages describe the syntax position, never the surrounding text.
        raise BadJsonError('not valid JSON: %s' % _json_error(exc))
    except RecursionError:
        raise BadJsonError('the JSON document is nested too deeply')
    if _nesting_depth(pairs) > MAX_NESTING:
        raise BadJsonError('the JSON document is nested more than %d levels deep' % MAX_NESTING)
    if not isinstance(pairs, JsonObject):
        raise BadJsonError('the document is not a JSON object')
    top = dict(pairs)
    version = top.get('version')
    if not isinstance(version, str):
        raise BadJsonError('the document has no "version" string')
    if version != FORMAT_VERSION:
        # MySQL never looks at the value; a different one means a format this library does not know.
        raise BadJsonError('unsupported data file version %r (this library reads version 1.0)' % version[:32])
    elements = top.get('elements')
    if not isinstance(elements, list):
        raise BadJsonError('the document has no "elements" array')

    keys = KeySet()
    add = keys.add
    signatures = {}
    kept = {}
    for index, element in enumerate(elements):
        key = _element_to_key(index, element)
        key_id, user_id = key.key_id, key.user_id
        signature = key_id + ('\0' + user_id if user_id else '')     # component_signature(key)
        if signature in signatures:
            raise DuplicateKeyError('element %d (%s) has the same identity as element %d'
                                    % (index, key.describe(), signatures[signature]), key_id=key_id)
        signatures[signature] = index
        add(key)
        kept[(key_id, user_id)] = (key, element)
    members = JsonObject((name, elements if name == 'elements' else value) for name, value in pairs)
    return keys, ComponentLayout(members, kept)


# A document exactly as MySQL writes it: compact, the two top-level members and the five element members in
# MySQL's order, each once, every value a string of the expected shape and every extension empty. Such a
# document has nothing the strict parse below would keep apart (no duplicate or foreign member, no nesting
# beyond 4), so after a plain json.loads it yields the same keys and layout; anything else, including any
# element the checks below would refuse, goes to the strict parse, which raises the error.
_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# One element and its separator: a comma before the next element, or the end of the elements. Matched
# element by element (re.sub), so the regex engine keeps no state across elements.
_CANONICAL_ELEMENT = re.compile(r'\{"user":%s,"data_id":%s,"data_type":"(?:AES|RSA|DSA|SECRET)",'
                                r'"data":"[0-9A-Fa-f]*","extension":\[\]\}(?:,(?=\{)|\Z)'
                                % (_JSON_STRING, _JSON_STRING))
_CANONICAL_HEAD = '{"version":"1.0","elements":['
_CANONICAL_TAIL = ']}'


def _parse_canonical(text):
    """(KeySet, ComponentLayout) of a canonical document, as parse_document's strict path would return
    them; None when the document is not canonical or any element would fail a check."""
    if (len(text) < len(_CANONICAL_HEAD) + len(_CANONICAL_TAIL) or not text.startswith(_CANONICAL_HEAD)
            or not text.endswith(_CANONICAL_TAIL)):
        return None
    # The elements are exactly a comma-separated run of canonical elements when removing every canonical
    # element (with its separator) leaves nothing.
    if _CANONICAL_ELEMENT.sub('', text[len(_CANONICAL_HEAD):-len(_CANONICAL_TAIL)]):
        return None
    try:
        # The regex fixed every member name, so the pairs need no duplicate check: build the objects directly.
        document = json.loads(text, object_pairs_hook=JsonObject)
    except ValueError:          # e.g. a bad escape or a raw control character inside a string
        return None
    keys = KeySet()
    table = keys._keys
    signatures = set()
    kept = {}
    unhexlify = binascii.unhexlify
    elements = document[1][1]
    for element in elements:
        (_n, user_id), (_n, key_id), (_n, key_type), (_n, hex_data), _extension = element
        if len(hex_data) % 2 or len(hex_data) > 2 * MAX_KEY_LENGTH:
            return None
        if not key_id:
            if not user_id:
                return None
            signature = '\0' + user_id
        else:
            signature = key_id + ('\0' + user_id if user_id else '')
        if signature in signatures:
            return None
        signatures.add(signature)
        key = Key.trusted(key_id, user_id, key_type, unhexlify(hex_data))
        identity = (key_id, user_id)
        table[identity] = key
        kept[identity] = (key, element)
    return keys, ComponentLayout(JsonObject((('version', FORMAT_VERSION), ('elements', elements))), kept)


# The commonest document of all: canonical, and no string holds a character JSON escapes, so each string's
# text is its value. Read with one regex pass and no JSON parser at all. The strings are matched as anything but
# a quote ([^"]* is several times faster for the regex engine than a character set): the whole array is checked
# for backslashes and control characters once instead, and the key data by unhexlify, which takes hex digits
# only. Each element but the last must end with its comma (\Z matches only at the end of the array).
_PLAIN_ELEMENT = re.compile(r'\{"user":"([^"]*)","data_id":"([^"]*)","data_type":"(AES|RSA|DSA|SECRET)",'
                            r'"data":"([^"]*)","extension":\[\]\}(?:,|\Z)')
_PLAIN_ELEMENT_OVERHEAD = len(_PLAIN_ELEMENT_TEXT % ('', '', '', ''))     # an element's text but its four strings


def _parse_plain(text):
    """(KeySet, ComponentLayout) of a canonical document with no escaped character, as parse_document's
    strict path would return them; None for any other document or any element a check would refuse.

    The layout keeps each element's strings, from which render_document writes the element's own text."""
    if (len(text) < len(_CANONICAL_HEAD) + len(_CANONICAL_TAIL) or not text.startswith(_CANONICAL_HEAD)
            or not text.endswith(_CANONICAL_TAIL)):
        return None
    start = len(_CANONICAL_HEAD)
    end = len(text) - len(_CANONICAL_TAIL)
    array = text[start:end]
    if '\\' in array:
        return None
    raw = array.encode('utf-8')
    if len(raw.translate(None, _CONTROL_BYTES)) != len(raw):
        return None
    found = _PLAIN_ELEMENT.findall(array)
    # The matches are disjoint and in order, and every one but the last ends with its comma: they cover the
    # whole array, with nothing between them, exactly when their lengths add up to the array's.
    count = len(found)
    if count * _PLAIN_ELEMENT_OVERHEAD + sum(map(len, chain.from_iterable(found))) + max(count - 1, 0) != len(array):
        return None
    keys = KeySet()
    table = keys._keys
    unhexlify = binascii.unhexlify
    new_key = tuple.__new__
    try:
        for user_id, key_id, key_type, hex_data in found:
            table[(key_id, user_id)] = new_key(Key, (key_id, user_id, key_type, unhexlify(hex_data)))
    except ValueError:      # binascii.Error: an odd number of hex digits, or a character that is not one
        return None         # (a non-ASCII one raises plain ValueError)
    # With no NUL in any id (a plain string has no control character), component_signature() is one-to-one
    # on identities: distinct identities are distinct keys to the server too.
    if len(table) != count or ('', '') in table:        # a repeated identity; a key with neither id
        return None
    if max(map(len, map(_KEY_DATA, table.values())), default=0) > MAX_KEY_LENGTH:
        return None
    return keys, ComponentLayout(JsonObject((('version', FORMAT_VERSION), ('elements', []))),
                                 plain_elements=(list(table.items()), found))


def _nesting_depth(value):
    """Deepest nesting of arrays and objects, found without recursion (a hostile file may nest thousands deep)."""
    if not isinstance(value, list):
        return 0
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()           # arrays, and objects (JsonObject is a list of pairs)
        if depth > deepest:
            deepest = depth
        children = [v for _k, v in item] if isinstance(item, JsonObject) else item
        for child in children:
            if isinstance(child, list):
                if child:
                    stack.append((child, depth + 1))
                elif depth >= deepest:      # an empty array or object: one level more, nothing inside
                    deepest = depth + 1
    return deepest


def _json_error(exc):
    msg = getattr(exc, 'msg', None)
    if msg is not None:
        return '%s at line %d column %d' % (msg, exc.lineno, exc.colno)
    return str(exc)


def _element_to_key(index, element):
    if isinstance(element, JsonObject) and len(element) == 5:
        # Fast path: the element as MySQL writes it, its members in MySQL's order with the expected types.
        # (Members are unique, checked while parsing; anything else takes the general path, same checks.)
        (user_name, user_id), (id_name, key_id), (type_name, key_type), (data_name, hex_data), \
            (extension_name, extension) = element
        canonical = (user_name == 'user' and id_name == 'data_id' and type_name == 'data_type'
                     and data_name == 'data' and extension_name == 'extension' and isinstance(user_id, str)
                     and isinstance(key_id, str) and isinstance(key_type, str) and isinstance(hex_data, str)
                     and isinstance(extension, list))
    else:
        canonical = False
    if not canonical:
        if not isinstance(element, JsonObject):
            raise BadJsonError('element %d is not a JSON object' % index)
        fields = dict(element)
        for name in ELEMENT_MEMBERS:
            if name not in fields:
                raise BadJsonError('element %d has no "%s" member' % (index, name))
            wanted = list if name == 'extension' else str
            if not isinstance(fields[name], wanted):
                kind = 'array' if wanted is list else 'string'
                raise BadJsonError('element %d: "%s" must be a JSON %s' % (index, name, kind))
        key_id, user_id, key_type, hex_data = (fields['data_id'], fields['user'], fields['data_type'],
                                               fields['data'])
    if not key_id and not user_id:
        raise BadJsonError('element %d has neither a data_id nor a user' % index)
    if key_type not in KEY_TYPES:
        raise UnknownKeyTypeError('element %d (%s) has an unknown data_type %r'
                                  % (index, describe_identity(key_id, user_id), key_type[:16]), key_id=key_id)
    try:
        # unhexlify accepts exactly the even-length strings of ASCII hex digits.
        data = binascii.unhexlify(hex_data)
    except ValueError:          # binascii.Error (odd length, not a hex digit) or a non-ASCII character
        # MySQL's unhex_string would silently load such a key as empty: a lost key. Refuse instead.
        raise BadHexError('element %d (%s): "data" is not an even-length hex string'
                          % (index, describe_identity(key_id, user_id)), key_id=key_id)
    if len(data) > MAX_KEY_LENGTH:
        raise KeyTooLargeError('element %d (%s) is %d bytes long'
                               % (index, describe_identity(key_id, user_id), len(data)), key_id=key_id)
    return Key(key_id, user_id, key_type, data)


def component_signature(key):
    # The component's cache key: data_id + '\0' + user, with no separator when user is empty (meta.cc).
    return key.key_id + ('\0' + key.user_id if key.user_id else '')


def render_document(keys, layout):
    """KeySet -> compact JSON bytes, keeping the layout's foreign members and existing elements as read."""
    layout = layout or new_document_layout()
    keys = list(keys)
    kept_elements = layout.elements
    if not kept_elements:
        # A new document: render every element as if no string needed escaping (nearly always so), then
        # check the result, which costs a few scans of the text instead of a regex search per string.
        body = ','.join([_PLAIN_ELEMENT_TEXT % (key[1], key[0], key[2], key[3].hex().upper()) for key in keys])
        if not _plain_elements_are_exact(body, len(keys)):
            body = ','.join(map(_render_element, keys))
        return _document(layout, body)
    # Ids that need no escaping are written as they are: one regex search over all of them instead of three
    # substitutions per key.
    needs_escape = _NEEDS_ESCAPE.search(' '.join(chain(map(_KEY_ID, keys), map(_USER_ID, keys),
                                                       map(_KEY_TYPE, keys))))
    texts = _element_texts(keys, kept_elements, _render_element if needs_escape else _render_plain_element)
    return _document(layout, ','.join(texts))


_QUOTES_PER_PLAIN_ELEMENT = _PLAIN_ELEMENT_TEXT.count('"')


def _plain_elements_are_exact(body, count):
    """True when `body`, `count` elements rendered from _PLAIN_ELEMENT_TEXT, has no character JSON would escape
    in any string: then it is what _render_element writes. Exactly the template's quotes (an id with a quote
    adds one), no backslash and no control character (UTF-8 never encodes another character with a byte
    below 0x20)."""
    if '\\' in body or body.count('"') != _QUOTES_PER_PLAIN_ELEMENT * count:
        return False
    try:
        raw = body.encode('utf-8')
    except UnicodeEncodeError:
        return False            # a lone surrogate: _render_element's path raises the error it always did
    return len(raw.translate(None, _CONTROL_BYTES)) == len(raw)


def _document(layout, elements_text):
    """The document's bytes: the layout's members, with the elements array written from its elements' text."""
    if [name for name, _value in layout.members] == ['version', 'elements'] and layout.members[0][1] == FORMAT_VERSION:
        return (_CANONICAL_HEAD + elements_text + _CANONICAL_TAIL).encode('utf-8')    # what MySQL writes
    # The array goes in as one piece of rendered text: _write_value never walks 100,000 elements.
    elements = _RenderedJson('[' + elements_text + ']')
    members = JsonObject((name, elements if name == 'elements' else value) for name, value in layout.members)
    out = []
    _write_value(members, out)
    return ''.join(out).encode('utf-8')


def _element_texts(keys, kept_elements, render):
    """Each key's element text: an existing element as it was read, a new or changed one from render(key)."""
    texts = []
    append = texts.append
    for key in keys:
        kept = kept_elements.get(key[:2])
        if kept is None or kept[0] != key:
            append(render(key))
        elif isinstance(kept[1], str):      # the element's own text (_parse_plain)
            append(kept[1])
        else:
            out = []
            _write_value(kept[1], out)
            append(''.join(out))
    return texts


# rapidjson's Writer escapes '"', '\\' and control characters only, with uppercase hex in \u00XX, and
# writes everything else (non-ASCII included) as raw UTF-8.
_SHORT_ESCAPES = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t'}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _escape(match):
    char = match.group(0)
    return _SHORT_ESCAPES.get(char) or '\\u%04X' % ord(char)


def _flat_object(value):
    """The compact JSON of an object whose members are all strings or empty arrays (every element MySQL
    writes), as _write_value writes it; None for any other object."""
    parts = []
    for name, member in value:
        if isinstance(member, str) and not isinstance(member, _RenderedJson):
            parts.append('"%s":"%s"' % (_NEEDS_ESCAPE.sub(_escape, name), _NEEDS_ESCAPE.sub(_escape, member)))
        elif isinstance(member, list) and not isinstance(member, JsonObject) and not member:   # [] but not {}
            parts.append('"%s":[]' % _NEEDS_ESCAPE.sub(_escape, name))
        else:
            return None
    return '{' + ','.join(parts) + '}'


class _RenderedJson(str):
    """JSON text already rendered as _write_value would render it; written as is."""


def _render_element(key):
    """The compact JSON of the element MySQL writes for `key` (member order user, data_id, data_type, data,
    extension), as _write_value would render it."""
    return '{"user":"%s","data_id":"%s","data_type":"%s","data":"%s","extension":[]}' % (
        _NEEDS_ESCAPE.sub(_escape, key.user_id), _NEEDS_ESCAPE.sub(_escape, key.key_id),
        _NEEDS_ESCAPE.sub(_escape, key.key_type), binascii.hexlify(key.data).decode('ascii').upper())


def _render_plain_element(key):
    """_render_element for a key none of whose strings needs escaping."""
    return _PLAIN_ELEMENT_TEXT % (key[1], key[0], key[2], key[3].hex().upper())


def _write_value(value, out):
    if isinstance(value, _RenderedJson):
        out.append(value)
        return
    if isinstance(value, JsonObject):
        flat = _flat_object(value)
        if flat is not None:
            out.append(flat)
            return
        out.append('{')
        for i, (name, member) in enumerate(value):
            if i:
                out.append(',')
            _write_value(name, out)
            out.append(':')
            _write_value(member, out)
        out.append('}')
    elif isinstance(value, list):
        out.append('[')
        for i, item in enumerate(value):
            if i:
                out.append(',')
            _write_value(item, out)
        out.append(']')
    elif isinstance(value, str):
        out.append('"' + _NEEDS_ESCAPE.sub(_escape, value) + '"')
    elif value is True:
        out.append('true')
    elif value is False:
        out.append('false')
    elif value is None:
        out.append('null')
    else:
        out.append(json.dumps(value))


_KEY_TYPE_SET = frozenset(KEY_TYPES)


def component_identity_rules_suffice(keys):
    """Keystore.identity_rules_suffice for both component formats, in a few C-level passes over all keys."""
    ids = list(map(_KEY_ID, keys))
    if not all(ids):
        return False                            # an empty key id
    all_ids = '\n'.join(ids)
    # component_signature is key_id, or key_id NUL user_id: with no NUL in any key id, the part before the
    # first NUL is the key id and the rest the user id, so distinct identities have distinct signatures.
    if '\0' in all_ids:
        return False
    if not _KEY_TYPE_SET.issuperset(map(_KEY_TYPE, keys)):
        return False
    if max(map(len, map(_KEY_DATA, keys)), default=0) > MAX_KEY_LENGTH:
        return False
    try:
        all_ids.encode('utf-8')
        '\n'.join(map(_USER_ID, keys)).encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def check_component_storable(key):
    if not key.key_id:
        raise InvalidKeyError('%s has an empty key id, which the keyring component refuses to store'
                              % key.describe(), key_id=key.key_id)
    if key.key_type not in KEY_TYPES:
        raise UnknownKeyTypeError('%s has an unknown key type %r' % (key.describe(), key.key_type),
                                  key_id=key.key_id)
    if len(key.data) > MAX_KEY_LENGTH:
        raise KeyTooLargeError('%s is %d bytes long' % (key.describe(), len(key.data)), key_id=key.key_id)
    what = 'key id'
    try:
        key.key_id.encode('utf-8')
        what = 'user id'
        key.user_id.encode('utf-8')
    except UnicodeEncodeError:
        raise InvalidKeyError('the %s of %s is not valid UTF-8, which a JSON keystore cannot hold'
                              % (what, key.describe()), key_id=key.key_id)


class ComponentKeyringFile(Keystore):
    """component_keyring_file's data file (the "path" of component_keyring_file.cnf)."""

    type_name = 'component_keyring_file'
    backup_action_when_valid = BACKUP_ROLL_FORWARD

    def decode(self, data):
        keys, layout = parse_document(data)
        return Decoded(keys, layout)

    def encode(self, keys, layout):
        return render_document(keys, layout)

    def signature(self, key):
        return component_signature(key)

    def check_storable(self, key, layout):
        check_component_storable(key)

    def identity_rules_suffice(self, keys):
        return component_identity_rules_suffice(keys)

    def describe_layout(self, layout):
        return {'version': FORMAT_VERSION}
