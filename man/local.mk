# SPDX-License-Identifier: Apache-2.0
# The manual pages and podctl's bash completion.
dist_man_MANS = man/podd.8 man/podctl.1 man/podd-manifest.5

# Installed as "podctl", the name bash-completion looks up for the podctl command.
bashcompletion_DATA = completion/podctl
completion/podctl: $(srcdir)/completion/podctl.bash
	$(AM_V_GEN)$(MKDIR_P) completion && cp $(srcdir)/completion/podctl.bash $@
CLEANFILES += completion/podctl
EXTRA_DIST += completion/podctl.bash
