# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user guides (docs/*.md) as antsibull-docs extra docs, for `make docs` (docs/reference/README.md).

Usage: python docs/reference/guides_to_rst.py COLLECTION_DIR

COLLECTION_DIR is the staging copy of the collection that `make docs` hands to antsibull-docs, never the checkout:
the Markdown stays the single source (GitHub renders it, README.md links it), and what this writes there is
generated. For each docs/<name>.md it writes docs/docsite/rst/<name>.rst, copies the local images the guides show
under docs/docsite/rst/images/, and writes docs/docsite/extra-docs.yml with a "Guides" section listing them.

Pandoc converts; this file only rewrites, on pandoc's document tree, what does not carry over from GitHub to Sphinx:

- antsibull-docs accepts only labels named ansible_collections.<collection>.docsite.*, so every guide gets the label
  <prefix><name> and every heading the label <prefix><name>.<GitHub slug> (pandoc's gfm reader computes GitHub's
  slugs, duplicates numbered as GitHub does), and a link to another guide, or to a heading of one, becomes a
  :ref: to those labels: Sphinx then resolves it across pages, and `sphinx-build -W` fails on any it cannot;
- a link to a file elsewhere in the repository becomes a :ref: to its reference page where there is one (a role,
  a module), else its text (with the path when the text does not show it): the site has no copy of that file;
- a link to a guide or heading that does not exist, or to a repository file that does not exist, is an error here,
  with the guide and the link named, rather than a link that goes nowhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import posixpath
import re
import shutil
import sys
from urllib.parse import unquote, urlsplit

# Guides in this order first in the "Guides" section; any other docs/*.md follows, by name.
GUIDE_ORDER = ('user-guide', 'upgrade-8.0-to-8.4', 'recovery', 'migration-tool', 'keystore-formats',
               'example-report', 'benchmarks')
SECTION_TITLE = 'Guides'
DOCS_DIR = 'docs'
RST_DIR = posixpath.join('docs', 'docsite', 'rst')
# A guide's name is in its page's file name, its labels and the extra-docs index: nothing there needs quoting.
GUIDE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
# Images go under their repository path here (relative to RST_DIR), so two guides' images never collide.
IMAGES_DIR = 'images'


class GuideError(Exception):
    """A guide that cannot become a working page: the message names the guide and the link."""


def collection_name(collection_dir):
    """namespace.name from galaxy.yml (two plain `key: value` lines; no YAML parser needed for them)."""
    values = {}
    with open(os.path.join(collection_dir, 'galaxy.yml'), encoding='utf-8') as f:
        for line in f:
            key, sep, value = line.partition(':')
            if sep and key in ('namespace', 'name'):
                values.setdefault(key, value.strip())
    return '%s.%s' % (values['namespace'], values['name'])


def label_prefix(collection):
    """The prefix antsibull-docs requires of every label in extra docs."""
    return 'ansible_collections.%s.docsite.' % collection


def guide_label(collection, guide, slug=None):
    """The label of a guide's page, or of one of its headings by GitHub slug."""
    label = label_prefix(collection) + guide
    return label + '.' + slug if slug else label


def ordered_guides(names):
    """GUIDE_ORDER's guides first, then the others alphabetically (a new guide appears without a change here)."""
    known = [name for name in GUIDE_ORDER if name in names]
    return known + sorted(set(names) - set(known))


# --- pandoc's document tree (JSON, pandoc-types 1.23) ---------------------------------------------------------

def walk(node, action):
    """Apply action to every element (a dict with "t") depth first; action returns None to keep the element (its
    children are walked), or a list of elements that replaces it in its parent list (not walked again)."""
    if isinstance(node, list):
        out = []
        for item in node:
            replaced = action(item) if isinstance(item, dict) and 't' in item else None
            if replaced is None:
                out.append(walk(item, action))
            else:
                out.extend(replaced)
        return out
    if isinstance(node, dict):
        return dict((key, walk(value, action)) for key, value in node.items())
    return node


def stringify(inlines):
    """The plain text of inline elements (a :ref: title cannot hold markup)."""
    parts = []

    def collect(element):
        kind, content = element['t'], element.get('c')
        if kind == 'Str':
            parts.append(content)
        elif kind in ('Space', 'SoftBreak', 'LineBreak'):
            parts.append(' ')
        elif kind in ('Code', 'Math'):
            parts.append(content[1])
        elif kind == 'Quoted':
            quote = '"' if content[0]['t'] == 'DoubleQuote' else "'"
            parts.append(quote + stringify(content[1]) + quote)
        elif kind in ('RawInline', 'Note'):
            pass
        else:
            return None  # Emph, Strong, Link, Span...: their text is in their children
        return []

    walk(inlines, collect)
    return ''.join(parts)


def header_slugs(blocks):
    """The identifiers of a document's headings: pandoc's gfm reader gives each GitHub's slug."""
    slugs = []

    def collect(element):
        if element['t'] == 'Header':
            slugs.append(element['c'][1][0])
        return None

    walk(blocks, collect)
    return slugs


def rst_ref(title, label):
    """A :ref: role; backslashes keep <, >, ` and \\ in the title from ending or splitting it. Without a title (a
    link around an image only), Sphinx shows the target's own title."""
    if not title.strip():
        return ':ref:`%s`' % label
    escaped = ''.join('\\' + char if char in '\\`<>' else char for char in title)
    return ':ref:`%s <%s>`' % (escaped, label)


# --- where a link goes ------------------------------------------------------------------------------------------

class Repository:
    """What the link rewriting needs to know of the collection: its name, its guides with their heading slugs, and
    which repository paths exist (a function, so tests need no files)."""

    def __init__(self, collection, guides, exists):
        self.collection = collection
        self.guides = guides  # guide name -> set of GitHub heading slugs
        self.exists = exists  # repository-relative POSIX path -> bool


def reference_label(repo, path):
    """The label of the reference page that documents a repository path, or None: a role's README, directory or
    argument spec documents the role; a module's source the module."""
    parts = path.split('/')
    if len(parts) >= 2 and parts[0] == 'roles' and parts[1]:
        rest = '/'.join(parts[2:])
        if rest in ('', 'README.md', 'meta/argument_specs.yml'):
            return 'ansible_collections.%s.%s_role' % (repo.collection, parts[1])
    if len(parts) == 3 and parts[:2] == ['plugins', 'modules'] and parts[2].endswith('.py'):
        return 'ansible_collections.%s.%s_module' % (repo.collection, parts[2][:-3])
    return None


def resolve(repo, guide, url):
    """Where a link in docs/<guide>.md goes: ('external', url), ('ref', label) or ('text', repository path).

    Raises GuideError for a target that does not exist."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return 'external', url
    path, fragment = unquote(parts.path), unquote(parts.fragment)
    if path:
        target = posixpath.normpath(posixpath.join(DOCS_DIR, path))
        if target == '..' or target.startswith('../'):
            raise GuideError('%s.md: link %r points outside the repository' % (guide, url))
        name = posixpath.basename(target)[:-len('.md')]
        if posixpath.dirname(target) == DOCS_DIR and target.endswith('.md') and name in repo.guides:
            target_guide = name
        elif not repo.exists(target):
            raise GuideError('%s.md: link %r: there is no %s in the repository' % (guide, url, target))
        else:
            # A fragment of another file (a README's heading) has no counterpart on its reference page.
            return ('ref', reference_label(repo, target)) if reference_label(repo, target) else ('text', target)
    else:
        target_guide = guide
    if fragment and fragment not in repo.guides[target_guide]:
        raise GuideError('%s.md: link %r: %s.md has no heading whose GitHub anchor is #%s'
                         % (guide, url, target_guide, fragment))
    return 'ref', guide_label(repo.collection, target_guide, fragment or None)


def image_target(repo, guide, url):
    """The repository path of a local image a guide shows (None for a remote one)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    target = posixpath.normpath(posixpath.join(DOCS_DIR, unquote(parts.path)))
    if target == '..' or target.startswith('../') or not repo.exists(target):
        raise GuideError('%s.md: image %r: there is no %s in the repository' % (guide, url, target))
    return target


def rewrite(repo, guide, blocks):
    """The guide's blocks with labels on its headings, links rewritten (see the module's docstring), local images
    pointing into IMAGES_DIR. Returns (blocks, repository paths of the images to copy); raises GuideError naming
    every broken link of the guide, so that one run shows them all."""
    images = []
    errors = []

    def action(element):
        try:
            return rewrite_element(element)
        except GuideError as exc:
            errors.append(str(exc))
            return None

    def rewrite_element(element):
        kind, content = element['t'], element.get('c')
        if kind == 'Header':
            level, (slug, classes, attributes), inlines = content
            return [{'t': 'Header', 'c': [level, [guide_label(repo.collection, guide, slug), classes, attributes],
                                          walk(inlines, action)]}]
        if kind == 'Link':
            attr, inlines, (url, title) = content
            where, value = resolve(repo, guide, url)
            if where == 'external':
                return None
            if where == 'ref':
                return [{'t': 'RawInline', 'c': ['rst', rst_ref(stringify(inlines), value)]}]
            text = walk(inlines, action)
            if value in stringify(inlines):
                return text
            return text + [{'t': 'Space'}, {'t': 'Str', 'c': '('}, {'t': 'Code', 'c': [['', [], []], value]},
                           {'t': 'Str', 'c': ')'}]
        if kind == 'Image':
            attr, inlines, (url, title) = content
            target = image_target(repo, guide, url)
            if target is None:
                return None
            images.append(target)
            return [{'t': 'Image', 'c': [attr, walk(inlines, action), [posixpath.join(IMAGES_DIR, target), title]]}]
        if kind in ('RawBlock', 'RawInline') and content[0] == 'html':
            # GitHub hides HTML comments; other HTML would be dropped by pandoc's RST writer without a word.
            if content[1].lstrip().startswith('<!--'):
                return []
            raise GuideError('%s.md: raw HTML %r is not converted; write it in Markdown' % (guide, content[1][:60]))
        return None

    blocks = walk(blocks, action)
    if errors:
        raise GuideError('\n'.join(errors))
    return blocks, images


def pad_roles(blocks):
    """A :ref: right after or before a letter or digit (`x[a](b.md)s`) would not be read as a role: put
    backslash-escaped spaces, which RST drops, between them."""
    def pad(node):
        if isinstance(node, list):
            node = [pad(item) for item in node]
            for index in range(len(node) - 1, -1, -1):
                item = node[index]
                if not (isinstance(item, dict) and item.get('t') == 'RawInline' and item['c'][0] == 'rst'):
                    continue
                text = item['c'][1]
                before = node[index - 1] if index else None
                after = node[index + 1] if index + 1 < len(node) else None
                if before and before.get('t') == 'Str' and before['c'][-1:].isalnum():
                    text = '\\ ' + text
                if after and after.get('t') == 'Str' and after['c'][:1].isalnum():
                    text = text + '\\ '
                node[index] = {'t': 'RawInline', 'c': ['rst', text]}
            return node
        if isinstance(node, dict):
            return dict((key, pad(value)) for key, value in node.items())
        return node

    return pad(blocks)


def extra_docs_yml(guides):
    """docs/docsite/extra-docs.yml: one "Guides" section, its entries in ordered_guides order."""
    lines = ['---', '# Generated by docs/reference/guides_to_rst.py (make docs) from docs/*.md.', 'sections:',
             '  - title: %s' % SECTION_TITLE, '    toctree:']
    lines.extend('      - %s' % json.dumps(name) for name in ordered_guides(guides))
    return '\n'.join(lines) + '\n'


def header_comment(guide):
    return '..\n  Generated from docs/%s.md by docs/reference/guides_to_rst.py (make docs): edit the Markdown.\n' % guide


# --- pandoc and the files ---------------------------------------------------------------------------------------

def convert(collection_dir):
    import pypandoc  # pypandoc_binary (test-requirements.txt) brings a pinned pandoc binary with it

    collection = collection_name(collection_dir)
    sources = sorted(glob.glob(os.path.join(collection_dir, DOCS_DIR, '*.md')))
    trees = {}
    for source in sources:
        name = os.path.basename(source)[:-len('.md')]
        if not GUIDE_NAME.match(name):
            raise GuideError('docs/%s.md: name a guide with letters, digits, ".", "-" and "_" only' % name)
        # gfm: GitHub's Markdown, with its heading slugs (gfm_auto_identifiers) as the headings' identifiers.
        trees[name] = json.loads(pypandoc.convert_file(source, 'json', format='gfm'))
    repo = Repository(collection, dict((name, set(header_slugs(tree['blocks']))) for name, tree in trees.items()),
                      lambda path: os.path.exists(os.path.join(collection_dir, *path.split('/'))))

    rst_dir = os.path.join(collection_dir, *RST_DIR.split('/'))
    if os.path.isdir(os.path.join(collection_dir, 'docs', 'docsite')):
        raise GuideError('docs/docsite exists in the checkout: guides_to_rst.py writes it; merge the two first')
    os.makedirs(os.path.join(rst_dir, IMAGES_DIR))  # even when empty: `make docs` copies it into the RST tree
    errors = []
    for name, tree in sorted(trees.items()):
        try:
            blocks, images = rewrite(repo, name, tree['blocks'])
        except GuideError as exc:
            errors.append(str(exc))
            continue
        tree['blocks'] = pad_roles(blocks)
        rst = pypandoc.convert_text(json.dumps(tree), 'rst', format='json')
        with open(os.path.join(rst_dir, name + '.rst'), 'w', encoding='utf-8') as f:
            f.write('.. _%s:\n\n%s\n%s' % (guide_label(collection, name), header_comment(name), rst))
        for image in images:
            dest = os.path.join(rst_dir, IMAGES_DIR, *image.split('/'))
            if not os.path.isdir(os.path.dirname(dest)):
                os.makedirs(os.path.dirname(dest))
            shutil.copyfile(os.path.join(collection_dir, *image.split('/')), dest)
    if errors:
        raise GuideError('\n'.join(errors))
    with open(os.path.join(collection_dir, 'docs', 'docsite', 'extra-docs.yml'), 'w', encoding='utf-8') as f:
        f.write(extra_docs_yml(trees))
    return ordered_guides(trees)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: %s COLLECTION_DIR (the staging copy, never the checkout)\n' % argv[0])
        return 2
    try:
        guides = convert(argv[1])
    except GuideError as exc:
        sys.stderr.write('guides_to_rst: %s\n' % exc)
        return 1
    print('guides_to_rst: %d guides: %s' % (len(guides), ', '.join(guides)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
