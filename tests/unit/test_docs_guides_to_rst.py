# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/reference/guides_to_rst.py: the guides' links, anchors and images as `make docs` builds them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os
import shutil

import pytest
import yaml

from ..conftest import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location('guides_to_rst', os.path.join(REPO_ROOT, 'docs', 'reference', 'guides_to_rst.py'))
g2r = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(g2r)

PREFIX = 'ansible_collections.keyops.mysql.docsite.'
FILES = {'docs/user-guide.md', 'docs/recovery.md', 'docs/benchmarks.png', 'README.md', 'roles/keyring_migration',
         'roles/keyring_migration/README.md', 'roles/keyring_migration/tasks/main.yml', 'plugins/modules/keyring_info.py',
         'extensions/awx/README.md'}


def repo():
    return g2r.Repository('keyops.mysql', {'user-guide': {'1-intro', 'hosts', 'hosts-1'}, 'recovery': {'pause-markers'}},
                          lambda path: path in FILES)


def inlines(text):
    words = text.split(' ')
    out = []
    for index, word in enumerate(words):
        if index:
            out.append({'t': 'Space'})
        out.append({'t': 'Str', 'c': word})
    return out


def link(url, text='see this'):
    return {'t': 'Link', 'c': [['', [], []], inlines(text), [url, '']]}


def para(*elements):
    return {'t': 'Para', 'c': list(elements)}


@pytest.mark.parametrize('url, expected', [
    ('recovery.md', ('ref', PREFIX + 'recovery')),
    ('recovery.md#pause-markers', ('ref', PREFIX + 'recovery.pause-markers')),
    ('./recovery.md', ('ref', PREFIX + 'recovery')),
    ('#hosts-1', ('ref', PREFIX + 'user-guide.hosts-1')),
    ('user-guide.md#1-intro', ('ref', PREFIX + 'user-guide.1-intro')),
    ('../roles/keyring_migration/README.md', ('ref', 'ansible_collections.keyops.mysql.keyring_migration_role')),
    ('../roles/keyring_migration', ('ref', 'ansible_collections.keyops.mysql.keyring_migration_role')),
    ('../plugins/modules/keyring_info.py', ('ref', 'ansible_collections.keyops.mysql.keyring_info_module')),
    # A file with no page of its own in the site: its text stays, not a link.
    ('../README.md', ('text', 'README.md')),
    ('../README.md#install', ('text', 'README.md')),
    ('../extensions/awx/README.md', ('text', 'extensions/awx/README.md')),
    ('../roles/keyring_migration/tasks/main.yml', ('text', 'roles/keyring_migration/tasks/main.yml')),
    ('https://dev.mysql.com/doc/', ('external', 'https://dev.mysql.com/doc/')),
    ('mailto:dba@example.com', ('external', 'mailto:dba@example.com')),
])
def test_resolve(url, expected):
    assert g2r.resolve(repo(), 'user-guide', url) == expected


@pytest.mark.parametrize('url, message', [
    ('recovery.md#no-such-heading', 'recovery.md has no heading whose GitHub anchor is #no-such-heading'),
    ('#Hosts', 'user-guide.md has no heading whose GitHub anchor is #Hosts'),
    ('missing.md', 'there is no docs/missing.md in the repository'),
    ('../roles/other/README.md', 'there is no roles/other/README.md'),
    ('../../etc/passwd', 'points outside the repository'),
])
def test_resolve_broken(url, message):
    with pytest.raises(g2r.GuideError) as exc:
        g2r.resolve(repo(), 'user-guide', url)
    assert str(exc.value).startswith('user-guide.md: ')
    assert message in str(exc.value)


def test_rst_ref_escapes_title():
    assert g2r.rst_ref('a <b> `c` \\d', 'lbl') == ':ref:`a \\<b\\> \\`c\\` \\\\d <lbl>`'
    assert g2r.rst_ref(' ', 'lbl') == ':ref:`lbl`'


def test_rewrite_labels_headings_and_links():
    header = {'t': 'Header', 'c': [2, ['hosts', [], []], inlines('Hosts')]}
    code = {'t': 'Code', 'c': [['', [], []], 'keyring_file']}
    guide_link = {'t': 'Link', 'c': [['', [], []], [{'t': 'Str', 'c': 'the'}, {'t': 'Space'}, code], ['recovery.md', '']]}
    blocks, images = g2r.rewrite(repo(), 'user-guide', [header, para(guide_link, link('https://example.com/x'))])
    assert images == []
    assert blocks[0]['c'][1][0] == PREFIX + 'user-guide.hosts'
    # The :ref: title is the link's plain text (a role holds no markup); the external link is left to pandoc.
    assert blocks[1]['c'][0] == {'t': 'RawInline', 'c': ['rst', ':ref:`the keyring_file <%srecovery>`' % PREFIX]}
    assert blocks[1]['c'][1]['t'] == 'Link'


def test_rewrite_repository_file_as_text():
    blocks, images = g2r.rewrite(repo(), 'user-guide', [
        para(link('../README.md', 'README.md')), para(link('../extensions/awx/README.md', 'the AWX notes'))])
    assert images == []
    assert blocks[0]['c'] == inlines('README.md')
    assert blocks[1]['c'] == inlines('the AWX notes') + [
        {'t': 'Space'}, {'t': 'Str', 'c': '('}, {'t': 'Code', 'c': [['', [], []], 'extensions/awx/README.md']},
        {'t': 'Str', 'c': ')'}]


def test_rewrite_images():
    image = {'t': 'Image', 'c': [['', [], []], inlines('benchmarks'), ['benchmarks.png', '']]}
    remote = {'t': 'Image', 'c': [['', [], []], [], ['https://example.com/a.png', '']]}
    blocks, images = g2r.rewrite(repo(), 'user-guide', [para(image, remote)])
    assert images == ['docs/benchmarks.png']
    assert blocks[0]['c'][0]['c'][2] == ['images/docs/benchmarks.png', '']
    assert blocks[0]['c'][1] == remote
    missing = {'t': 'Image', 'c': [['', [], []], [], ['nothere.png', '']]}
    with pytest.raises(g2r.GuideError, match='image .*nothere.png'):
        g2r.rewrite(repo(), 'user-guide', [para(missing)])


def test_rewrite_raw_html():
    comment = {'t': 'RawBlock', 'c': ['html', '<!-- generated by bench/run -->']}
    blocks, images = g2r.rewrite(repo(), 'user-guide', [comment, para(*inlines('kept'))])
    assert (blocks, images) == ([para(*inlines('kept'))], [])
    with pytest.raises(g2r.GuideError, match='raw HTML'):
        g2r.rewrite(repo(), 'user-guide', [para({'t': 'RawInline', 'c': ['html', '<br>']})])


def test_every_broken_link_of_a_guide_is_named():
    with pytest.raises(g2r.GuideError) as exc:
        g2r.rewrite(repo(), 'user-guide', [para(link('recovery.md#no-such')), para(link('gone.md'))])
    assert str(exc.value).splitlines() == [
        "user-guide.md: link 'recovery.md#no-such': recovery.md has no heading whose GitHub anchor is #no-such",
        "user-guide.md: link 'gone.md': there is no docs/gone.md in the repository"]


def test_pad_roles_next_to_words():
    role = {'t': 'RawInline', 'c': ['rst', ':ref:`x <y>`']}
    padded = g2r.pad_roles([para({'t': 'Str', 'c': 'see'}, role, {'t': 'Str', 'c': 's.'})])
    assert padded[0]['c'][1]['c'][1] == '\\ :ref:`x <y>`\\ '
    spaced = g2r.pad_roles([para({'t': 'Str', 'c': '('}, role, {'t': 'Str', 'c': ').'})])
    assert spaced[0]['c'][1]['c'][1] == ':ref:`x <y>`'


def test_guide_order_and_extra_docs():
    assert g2r.ordered_guides(['zeta', 'recovery', 'awx', 'user-guide']) == ['user-guide', 'recovery', 'awx', 'zeta']
    index = yaml.safe_load(g2r.extra_docs_yml({'awx': None, 'user-guide': None}))
    assert index == {'sections': [{'title': 'Guides', 'toctree': ['user-guide', 'awx']}]}


def test_stringify_and_slugs():
    title = [{'t': 'Emph', 'c': inlines('x')}, {'t': 'Space'}, {'t': 'Code', 'c': [['', [], []], 'y']}]
    header = {'t': 'Header', 'c': [2, ['x-y', [], []], title]}
    assert g2r.stringify(header['c'][2]) == 'x y'
    assert g2r.header_slugs([header, para(*inlines('no'))]) == ['x-y']


# --- with pandoc (pypandoc_binary, test-requirements.txt) ---------------------------------------------------------

# antsibull-docs' extra-docs lint calls docutils in a way docutils 2.0 will drop: not this test's concern.
@pytest.mark.filterwarnings('ignore::PendingDeprecationWarning')
def test_convert_a_staging_copy(tmp_path):
    tree = tmp_path / 'ansible_collections' / 'keyops' / 'mysql'
    (tree / 'docs').mkdir(parents=True)
    (tree / 'roles' / 'keyring_migration').mkdir(parents=True)
    (tree / 'roles' / 'keyring_migration' / 'README.md').write_text('# role\n')
    shutil.copy(os.path.join(REPO_ROOT, 'galaxy.yml'), str(tree / 'galaxy.yml'))
    shutil.copy(os.path.join(REPO_ROOT, 'docs', 'benchmarks.png'), str(tree / 'docs' / 'chart.png'))
    (tree / 'docs' / 'user-guide.md').write_text(
        '# User guide\n\nSee [recovery](recovery.md#a-run-that-fails), [below](#hosts), '
        '[the role](../roles/keyring_migration/README.md).\n\n## Hosts\n\n| a | b |\n|---|---|\n| `1` | 2 |\n\n'
        '## Hosts\n\n```yaml\nx: 1\n```\n\n![chart](chart.png)\n')
    (tree / 'docs' / 'recovery.md').write_text('# Recovery\n\n## A run that fails\n\nBack to [the guide](user-guide.md#hosts-1).\n')

    assert g2r.convert(str(tree)) == ['user-guide', 'recovery']

    rst_dir = tree / 'docs' / 'docsite' / 'rst'
    guide = (rst_dir / 'user-guide.rst').read_text()
    assert guide.startswith('.. _%suser-guide:\n' % PREFIX)
    for expected in ('.. _%suser-guide.hosts:' % PREFIX, '.. _%suser-guide.hosts-1:' % PREFIX,
                     ':ref:`recovery <%srecovery.a-run-that-fails>`' % PREFIX, ':ref:`below <%suser-guide.hosts>`' % PREFIX,
                     ':ref:`the role <ansible_collections.keyops.mysql.keyring_migration_role>`',
                     '.. code:: yaml', 'images/docs/chart.png'):
        assert expected in guide
    assert ':ref:`the guide <%suser-guide.hosts-1>`' % PREFIX in (rst_dir / 'recovery.rst').read_text()
    assert (rst_dir / 'images' / 'docs' / 'chart.png').is_file()
    index = yaml.safe_load((tree / 'docs' / 'docsite' / 'extra-docs.yml').read_text())
    assert index['sections'][0]['toctree'] == ['user-guide', 'recovery']
    # What `antsibull-docs lint-collection-docs` checks of extra docs: labels, toctree entries, rstcheck.
    from antsibull_docs.lint_extra_docs import lint_collection_extra_docs_files
    assert lint_collection_extra_docs_files(str(tree), collection_name='keyops.mysql') == []


def test_convert_reports_every_broken_link(tmp_path):
    tree = tmp_path / 'mysql'
    (tree / 'docs').mkdir(parents=True)
    shutil.copy(os.path.join(REPO_ROOT, 'galaxy.yml'), str(tree / 'galaxy.yml'))
    (tree / 'docs' / 'a.md').write_text('# A\n\n[x](b.md#nope)\n')
    (tree / 'docs' / 'b.md').write_text('# B\n\n[y](../NOTES.md)\n')
    with pytest.raises(g2r.GuideError) as exc:
        g2r.convert(str(tree))
    assert str(exc.value).splitlines() == [
        "a.md: link 'b.md#nope': b.md has no heading whose GitHub anchor is #nope",
        "b.md: link '../NOTES.md': there is no NOTES.md in the repository"]
    assert not (tree / 'docs' / 'docsite' / 'extra-docs.yml').exists()


def test_the_repositorys_guides_have_no_broken_link():
    """The check `make docs` makes, without the rest of the build: every link in docs/*.md leads somewhere."""
    import pypandoc
    names = sorted(name[:-3] for name in os.listdir(os.path.join(REPO_ROOT, 'docs')) if name.endswith('.md'))
    trees = dict((name, json.loads(pypandoc.convert_file(os.path.join(REPO_ROOT, 'docs', name + '.md'), 'json',
                                                         format='gfm'))) for name in names)
    repository = g2r.Repository('keyops.mysql', dict((name, set(g2r.header_slugs(tree['blocks'])))
                                                     for name, tree in trees.items()),
                                lambda path: os.path.exists(os.path.join(REPO_ROOT, path)))
    for name, tree in trees.items():
        g2r.rewrite(repository, name, tree['blocks'])


def test_a_guide_name_needs_no_quoting(tmp_path):
    (tmp_path / 'docs').mkdir()
    shutil.copy(os.path.join(REPO_ROOT, 'galaxy.yml'), str(tmp_path / 'galaxy.yml'))
    (tmp_path / 'docs' / 'my guide.md').write_text('# Mine\n')
    with pytest.raises(g2r.GuideError, match='docs/my guide.md: name a guide with'):
        g2r.convert(str(tmp_path))
