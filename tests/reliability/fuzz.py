# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mutation fuzzing of the keystore parsers: every input must decode or raise a KeystoreError, fast, in bounded
memory. `python -m tests.reliability.fuzz --inputs 100000` (make fuzz); the pytest suite runs a smaller share.

Inputs are mutations of valid keystores of every format and layout: bit flips, byte changes, truncations,
insertions, duplicated and deleted ranges, length fields set to hostile values (0, past the end, 2**32,
2**64-1), and random bytes.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import resource
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), '.cache', 'collections'))

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import KEYSTORE_TYPES  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.component_file import render_document  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.encrypted_file import encrypt_document  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key, KeystoreError  # noqa: E402

PASSWORD = 'fuzz'
HOSTILE = (0, 1, 7, 8, 2 ** 31, 2 ** 32, 2 ** 32 + 8, 2 ** 63, 2 ** 64 - 1)


def random_bytes(rng, count):
    return bytes(rng.getrandbits(8) for _byte in range(count))


def seeds(rng):
    """Encodings to mutate: (keystore type, bytes). Every random byte comes from rng, so that a seed gives the same
    campaign on every run: a rare outcome (a mutated IV that still decrypts to text) must not come and go."""
    keys = [Key('INNODBKey-%d' % i, '' if i % 2 else 'u%d@%%' % i, ('AES', 'RSA', 'DSA', 'SECRET')[i % 4],
                random_bytes(rng, (16, 256, 128, 40)[i % 4])) for i in range(5)]
    out = []
    for keystore_type, cls in sorted(KEYSTORE_TYPES.items()):
        store = cls('/fuzz', password=PASSWORD) if cls.needs_password else cls('/fuzz')
        layouts = [None]
        if keystore_type == 'keyring_file':
            layouts = [(v, a) for v in ('2.0', '1.0') for a in ('LE_64', 'LE_32', 'BE_64', 'BE_32')]
        for layout in layouts:
            key_list = [k for k in keys if not (layout and layout[0] == '1.0' and k.key_type == 'SECRET')]
            if cls.needs_password:      # the IV from rng, not os.urandom
                out.append((keystore_type, encrypt_document(render_document(key_list, layout), PASSWORD,
                                                            iv=random_bytes(rng, 16))))
                # A keystore written with another password: its mutations reach WrongPasswordError every run.
                out.append((keystore_type, encrypt_document(render_document(key_list, layout), 'not-' + PASSWORD,
                                                            iv=random_bytes(rng, 16))))
            else:
                out.append((keystore_type, store.encode(key_list, layout)))
    return out


def mutate(rng, data):
    data = bytearray(data)
    for _mutation in range(rng.choice((1, 1, 1, 2, 3, 8))):
        kind = rng.randrange(8)
        pos = rng.randrange(len(data) + 1) if data else 0
        if kind == 0 and data:                                   # flip one bit
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:                                 # replace a byte
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif kind == 2:                                          # truncate
            del data[pos:]
        elif kind == 3:                                          # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _byte in range(rng.randrange(1, 9)))
        elif kind == 4 and data:                                 # delete a range
            del data[pos:pos + rng.randrange(1, 17)]
        elif kind == 5 and data:                                 # duplicate a range
            chunk = data[pos:pos + rng.randrange(1, 65)]
            data[pos:pos] = chunk
        elif kind == 6 and len(data) >= 8:                       # a hostile length field, any width and order
            fmt = rng.choice(('<Q', '<I', '>Q', '>I'))
            width = struct.calcsize(fmt)
            value = rng.choice(HOSTILE) % (2 ** (8 * width))
            at = min(pos, len(data) - width) // width * width
            data[at:at + width] = struct.pack(fmt, value)
        elif kind == 7:                                          # random bytes
            data = bytearray(random_bytes(rng, rng.randrange(0, 512)))
    return bytes(data)


def peak_rss_kib():
    """This process's peak RSS. VmHWM, not ru_maxrss: the latter keeps the parent's size from before exec."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except IOError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(inputs, seed=0, report=print):
    rng = random.Random(seed)
    corpus = seeds(rng)
    stores = {}
    counts = {}
    slowest = 0.0
    for n in range(inputs):
        keystore_type, base = corpus[n % len(corpus)]
        data = mutate(rng, base)
        cls = KEYSTORE_TYPES[keystore_type]
        store = stores.setdefault(keystore_type, cls('/fuzz', password=PASSWORD) if cls.needs_password
                                  else cls('/fuzz'))
        started = time.perf_counter()
        try:
            store.decode(data)
            outcome = 'decoded'
        except KeystoreError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # anything else is a bug: report the input that caused it
            raise AssertionError('%s on a %s input %r: %r' % (type(exc).__name__, keystore_type, data[:200], exc))
        slowest = max(slowest, time.perf_counter() - started)
        key = (keystore_type, outcome)
        counts[key] = counts.get(key, 0) + 1
    peak_kib = peak_rss_kib()
    report('%d inputs, slowest %.1f ms, peak RSS %d MiB' % (inputs, slowest * 1000, peak_kib // 1024))
    for (keystore_type, outcome), count in sorted(counts.items()):
        report('  %-34s %-24s %7d' % (keystore_type, outcome, count))
    return counts, slowest, peak_kib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inputs', type=int, default=100000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', action='store_true', help='print one JSON summary instead of the table')
    args = parser.parse_args()
    if args.json:
        counts, slowest, peak_kib = run(args.inputs, args.seed, report=lambda line: None)
        print(json.dumps(dict(outcomes=['%s %s %d' % (t, o, n) for (t, o), n in sorted(counts.items())],
                              slowest_seconds=slowest, peak_rss_kib=peak_kib)))
    else:
        run(args.inputs, args.seed)


if __name__ == '__main__':
    main()
