# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Sphinx configuration of the module reference (`make docs`), started from `antsibull-docs sphinx-init`.
# The RST comes from the modules' and the role's own documentation (antsibull-docs collection --use-current);
# nothing here is written by hand but this file and antsibull-docs.cfg.

project = 'keyops.mysql'
copyright = 'keyops.mysql contributors'

title = 'keyops.mysql module reference'
html_short_title = 'keyops.mysql reference'

extensions = ['sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
# _templates/extrabody.html: the site title links to this site's index, not to "/" (see that file).
templates_path = ['_templates']
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# No intersphinx: CI is offline (PyPI and Debian only), so no inventory of docs.ansible.com can be fetched.
default_role = 'any'
# Every reference must resolve (sphinx-build -W turns a broken one into a failure).
nitpicky = True
